/*
 * ring.c - a small ring buffer for the rnnkit inspect screenshots
 * (written for rnnkit; not kernel code)
 */
#include <linux/kernel.h>
#include <linux/slab.h>

struct ring {
	unsigned int head, tail, size;
	char *data;
};

/* Allocate a ring of @size bytes; size must be a power of two. */
static struct ring *ring_alloc(unsigned int size, gfp_t gfp)
{
	struct ring *r;

	if (size == 0 || (size & (size - 1)))
		return NULL;
	r = kzalloc(sizeof(*r), gfp);
	if (!r)
		return NULL;
	r->data = kmalloc(size, gfp);
	if (!r->data) {
		kfree(r);
		return NULL;
	}
	r->size = size;
	return r;
}

static int ring_put(struct ring *r, char c)
{
	if (r->head - r->tail == r->size) {
		pr_warn("ring: full (%u bytes)\n", r->size);
		return -ENOSPC;
	}
	r->data[r->head++ & (r->size - 1)] = c;
	return 0;
}
