"""Word vectors out and back, nearest neighbours, the 2-D map."""
import pytest
import torch

from rnnkit.embeddings import neighbours, pca_2d, plot_words, read_word2vec, write_word2vec
from rnnkit.errors import RnnkitError


def test_word2vec_export_round_trips_exactly(tmp_path):
    torch.manual_seed(0)
    words = ["<unk>", "<eos>", "the", "company", "said"]
    matrix = torch.randn(5, 7) * torch.logspace(-6, 3, 7)
    path = tmp_path / "v.txt"
    write_word2vec(str(path), words, matrix)
    assert path.read_text().splitlines()[0] == "5 7"
    back_words, back = read_word2vec(str(path))
    assert back_words == words and torch.equal(back, matrix)  # 9 significant digits: float32 exactly


def test_word2vec_refuses_words_it_cannot_hold_and_bad_files(tmp_path):
    with pytest.raises(RnnkitError, match="spaces"):
        write_word2vec(str(tmp_path / "v.txt"), ["a b", "c"], torch.zeros(2, 2))
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\nx 1 2 3\n")
    with pytest.raises(RnnkitError, match="says 2 words but holds 1"):
        read_word2vec(str(bad))


def test_neighbours_are_by_cosine_similarity_best_first():
    words = ["a", "b", "c", "d"]
    m = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    assert [w for w, _ in neighbours(m, words, "a", 3)] == ["b", "c", "d"]
    sims = dict(neighbours(m, words, "a", 3))
    assert sims["c"] == pytest.approx(0.0, abs=1e-7) and sims["d"] == pytest.approx(-1.0)
    with pytest.raises(RnnkitError, match="'zz' is not in the model's vocabulary"):
        neighbours(m, words, "zz")


def test_pca_keeps_the_main_direction():
    t = torch.linspace(-1, 1, 9)[:, None]
    points = torch.cat([t * 3, t * 3, torch.zeros(9, 1)], dim=1) + torch.tensor([5.0, -2.0, 1.0])
    xy = pca_2d(points)
    assert torch.allclose(xy[:, 1], torch.zeros(9), atol=1e-5)  # one direction of spread
    assert torch.allclose(xy[:, 0].abs(), (t[:, 0] * 3 * 2 ** 0.5).abs(), atol=1e-5)  # distances along it kept


def test_the_plot_is_a_png_of_the_chosen_words(tmp_path):
    torch.manual_seed(1)
    words = ["paris", "france", "rome", "italy", "x"]
    path = tmp_path / "w.png"
    plot_words(str(path), torch.randn(5, 8), words, ["paris", "france", "rome", "italy"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
    with pytest.raises(RnnkitError, match="not in the model's vocabulary: berlin"):
        plot_words(str(tmp_path / "v.png"), torch.randn(5, 8), words, ["paris", "berlin", "rome"])
    assert not (tmp_path / "v.png").exists()
