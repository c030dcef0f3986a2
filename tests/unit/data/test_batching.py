import torch

from rnnkit.data.batching import EpochStreams, StreamBatcher


def test_documented_diagram():
    # The diagram in batching.py: 26 symbols a..z, 4 streams, bptt 4.
    b = StreamBatcher(torch.arange(26), batch_size=4, bptt=4)
    letters = lambda t: ["".join(chr(97 + int(i)) for i in row) for row in t]  # noqa: E731
    x0, y0 = b.segment(0)
    assert letters(x0) == ["abcd", "ghij", "mnop", "stuv"]
    assert letters(y0) == ["bcde", "hijk", "nopq", "tuvw"]
    x1, y1 = b.segment(1)
    assert letters(x1) == ["ef", "kl", "qr", "wx"]
    assert letters(y1) == ["fg", "lm", "rs", "xy"]


def test_segments_cover_each_stream_contiguously():
    ids = torch.arange(1000)
    b = StreamBatcher(ids, batch_size=3, bptt=7)
    rows = torch.cat([x for x, _ in (b.segment(k) for k in range(b.num_segments))], dim=1)
    for r in range(3):
        assert torch.equal(rows[r], torch.arange(r * b.length, (r + 1) * b.length))
    targets = torch.cat([y for _, y in (b.segment(k) for k in range(b.num_segments))], dim=1)
    assert torch.equal(targets, rows + 1)


def test_epoch_streams_resume_from_position():
    ids = torch.randint(0, 50, (5000,))
    a = EpochStreams(ids, 4, 16, seed=3)
    for _ in range(200):  # several epochs
        a.next_batch()
    pos = a.position()
    expected = [a.next_batch().inputs.clone() for _ in range(30)]
    b = EpochStreams(ids, 4, 16, seed=3)
    b.seek(pos)
    got = [b.next_batch().inputs for _ in range(30)]
    assert all(torch.equal(e, g) for e, g in zip(expected, got))


def test_new_stream_flag_marks_epoch_starts():
    s = EpochStreams(torch.arange(100), 2, 10, seed=0)
    flags = [s.next_batch().new_stream for _ in range(12)]
    assert flags[0] and not any(flags[1:5]) and flags[5]


def test_sequence_batches_pad_and_resume():
    from rnnkit.data.batching import SequenceBatches

    examples = [(torch.arange(n) + 1, torch.arange(n)) for n in range(1, 11)]
    a = SequenceBatches(examples, 3, seed=1)
    batch = a.next_batch()
    assert batch.inputs.shape[0] == 3 and batch.lengths.max() == batch.inputs.shape[1]
    for row, n in zip(batch.inputs, batch.lengths):
        assert (row[n:] == 0).all() and (row[:n] > 0).all()
    assert (batch.targets[batch.targets != -100] >= 0).all()
    for _ in range(5):
        a.next_batch()
    pos = a.position()
    expected = [a.next_batch().inputs for _ in range(6)]
    b = SequenceBatches(examples, 3, seed=1)
    b.seek(pos)
    assert all(torch.equal(e, b.next_batch().inputs) for e in expected)


def test_sequence_batches_labels_stack_for_many_to_one():
    from rnnkit.data.batching import SequenceBatches

    batch = SequenceBatches([(torch.ones(3, 2), torch.tensor(1)), (torch.ones(5, 2), torch.tensor(0))], 2,
                            shuffle=False).next_batch()
    assert batch.targets.tolist() == [1, 0] and batch.inputs.shape == (2, 5, 2) and batch.target_lengths is None


def test_bucketed_batches_have_similar_lengths_and_cover_each_epoch_once():
    from rnnkit.data.batching import SequenceBatches
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 60, (203,), generator=g).tolist()
    examples = [(torch.full((n, 2), i), torch.zeros(n, dtype=torch.long)) for i, n in enumerate(lengths)]

    def epoch(batches):
        out = [batches.next_batch() for _ in range(-(-203 // 8))]
        return out, sorted(int(b.inputs[k, 0, 0]) for b in out for k in range(len(b.lengths)))

    bucketed, seen = epoch(SequenceBatches(examples, 8, seed=3, bucket=5))
    assert seen == list(range(203))  # every example once, the short batch last
    assert [len(b.lengths) for b in bucketed][-1] == 203 % 8
    plain, _ = epoch(SequenceBatches(examples, 8, seed=3))
    padding = lambda bs: sum(b.inputs.shape[0] * b.inputs.shape[1] - int(b.lengths.sum()) for b in bs)  # noqa: E731
    assert padding(bucketed) < padding(plain) / 3
    # Deterministic in (seed, epoch): a resumed copy hands out the same batches, a new epoch another mix.
    a = SequenceBatches(examples, 8, seed=3, bucket=5)
    first = [a.next_batch() for _ in range(30)]
    b = SequenceBatches(examples, 8, seed=3, bucket=5)
    b.seek({"epoch": 1, "index": 8 * 2})  # 26 batches an epoch: 25 of 8, one of 3
    assert torch.equal(first[26 + 2].inputs, b.next_batch().inputs)
    assert not torch.equal(first[26].inputs, first[0].inputs)
