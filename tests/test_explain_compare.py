"""Explanations that can fail a sanity check, and compare mode's differences."""

import json
import statistics

import numpy as np
import pytest
from PIL import Image

from services.compare import entities_only_in, match_boxes, run_side, word_diff
from services.errors import InputError
from services.explain import heatmap_pixels, seen_region
from services.local import LocalTasks
from services.results import Detection, Entity, EntityResult, WordAttribution
from tools.eval_explanations import CAT_CLASSES, deletion_drops, heat_on_cat, heat_on_pasted_cat, review_sentences
from ui.highlight import attribution_html, entity_html

from .conftest import SAMPLES
from .test_catalog_cli import cli


@pytest.fixture(scope="module")
def tasks(manager):
    return LocalTasks(manager)


# ---------------------------------------------------------------------------- image explanations
@pytest.mark.slow
def test_cat_heatmap_lies_on_the_cat_not_the_room(tasks):
    on_cat = heat_on_cat(tasks)
    assert on_cat.label in ("tiger cat", "tabby", "Egyptian cat")
    assert on_cat.mass_on_cat > 0.95
    # the room behind the cat is a small part of the crop: per pixel it must be far cooler than the cat
    assert on_cat.hotter > 3


@pytest.mark.slow
@pytest.mark.parametrize("corner", [(40, 60), (200, 220)])
def test_a_small_cat_pasted_into_a_street_gets_most_of_the_heat(tasks, corner):
    """The cat covers a tenth of the picture; the evidence for its class must mostly lie on it."""
    pasted = heat_on_pasted_cat(tasks, "street.jpg", corner)
    assert pasted.cat_area < 0.12 and pasted.mass_on_cat > 0.5


@pytest.mark.slow
def test_nothing_outside_the_crop_the_model_saw_is_hot(tasks):
    why = tasks.explain_image(SAMPLES / "cat.jpg")
    assert why.method == "grad-cam"
    heat = heatmap_pixels(why)
    left, top, right, bottom = why.box
    assert heat[:, :left].sum() == heat[:, right:].sum() == heat[:top].sum() == heat[bottom:].sum() == 0


def test_seen_region_is_the_centre_crop():
    assert seen_region((451, 300), 224 / 256) == (94, 19, 357, 281)
    assert seen_region((640, 480), None) == (0, 0, 640, 480)


@pytest.mark.slow
def test_explaining_a_class_index_out_of_range_is_refused(tasks):
    with pytest.raises(InputError):
        tasks.explain_image(SAMPLES / "cat.jpg", index=1000)


@pytest.mark.slow
def test_occlusion_is_used_where_the_network_has_no_convolution(tasks):
    """A tiny random-weight ViT (no download): occlusion, a grid of the stride's cells, peak 1."""
    from transformers import ViTConfig, ViTForImageClassification

    from services.backends.image_classification import ImageClassifier, lite_preprocess
    from services.explain import explain_image

    config = ViTConfig(image_size=224, patch_size=32, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=3)
    classifier = ImageClassifier(ViTForImageClassification(config), "cpu", lite_preprocess(), ["a", "b", "c"], 224 / 256)

    why = explain_image(classifier, Image.open(SAMPLES / "cat.jpg").convert("RGB"), "cat.jpg", index=0)
    assert why.method == "occlusion"
    grid = np.asarray(why.heatmap)
    assert grid.ndim == 2 and grid.shape[0] == grid.shape[1] and 0 <= grid.min() and grid.max() == pytest.approx(1.0)


# ---------------------------------------------------------------------------- sentiment explanations
@pytest.mark.slow
def test_deleting_the_most_attributed_word_moves_the_score_more_than_a_random_word(tasks):
    """Over the 200 review sentences: the sentiment score of the original label drops more when its
    most-attributed word goes than when a random word does (a seeded draw per review)."""
    drops = deletion_drops(tasks, review_sentences())
    assert len(drops.top) == 200
    assert statistics.mean(drops.top) > 2 * statistics.mean(drops.random)
    assert statistics.mean(drops.top) > 0.1
    assert sum(t > r for t, r in zip(drops.top, drops.random)) > 0.6 * len(drops.top)


@pytest.mark.slow
def test_word_attributions_point_the_right_way_and_cover_the_text(tasks):
    text = "The food was cold and the waiter was rude, but the dessert was lovely."
    why = tasks.explain_sentiment(text)
    score = {w.text: w.score for w in why.words}
    assert score["lovely"] > 0.5 and score["rude"] < -0.3 and score["cold"] < -0.3
    assert max(abs(s) for s in score.values()) == pytest.approx(1.0)
    assert all(text[w.start:w.end] == w.text for w in why.words)


@pytest.mark.slow
def test_a_long_text_is_explained_over_its_first_128_tokens_and_says_so(tasks):
    text = " ".join(review_sentences()[:30])
    why = tasks.explain_sentiment(text)
    assert 0 < why.covered < len(text) and why.words[-1].end == why.covered
    assert 60 < len(why.words) < 128
    short = tasks.explain_sentiment("Lovely.")
    assert short.covered == len("Lovely.")


def test_heatmap_and_unmatched_boxes_are_drawn():
    from services.drawing import ONLY_HERE, draw_detections, draw_heatmap
    from services.results import ImageExplanation

    photo = Image.new("RGB", (200, 100), (200, 200, 200))
    why = ImageExplanation("p", "x", 0, 0.5, "grad-cam", [[0.0, 1.0], [0.0, 0.0]], (50, 0, 150, 100), 200, 100)
    drawn = np.asarray(draw_heatmap(photo, why)).astype(int)
    assert drawn[20, 130, 0] > drawn[20, 130, 2]  # hot corner: red over blue
    assert drawn[80, 60, 2] > drawn[80, 60, 0]  # cold corner: blue
    assert abs(drawn[50, 10] - drawn[50, 190]).sum() == 0 and drawn[50, 10, 0] < 200  # outside the crop: grey, dimmed
    boxes = [Detection("car", 0.9, (10, 10, 60, 60)), Detection("car", 0.8, (100, 10, 150, 60))]
    marked = np.asarray(draw_detections(photo, boxes, only_here={1}))
    assert tuple(marked[35, 100]) == ONLY_HERE and tuple(marked[35, 10]) != ONLY_HERE


def test_attribution_html_escapes_user_text():
    text = "<script>alert(1)</script> great"
    words = [WordAttribution("<script>alert(1)</script>", 0, 25, -0.2), WordAttribution("great", 26, 31, 1.0)]
    out = attribution_html(text, words)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "rgba(34,197,94,1.00)" in out and "rgba(239,68,68,0.20)" in out


@pytest.mark.slow
def test_cli_explain_writes_the_heatmap_and_gives_token_scores(tmp_path):
    out = cli("classify", str(SAMPLES / "cat.jpg"), "--explain", "--explain-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    item = json.loads(out.stdout)[0]
    heatmap = item["explanation"]["heatmap_png"]
    assert item["explanation"]["method"] == "grad-cam" and heatmap.endswith("cat.heatmap.png")
    assert Image.open(heatmap).size == (451, 300)
    out = cli("sentiment", "The waiter was rude.", "--explain", "--json")
    assert out.returncode == 0, out.stderr
    words = {w["text"]: w["score"] for w in json.loads(out.stdout)[0]["explanation"]["words"]}
    assert words["rude"] == -1.0
    out = cli("sentiment", "   ", "--explain")
    assert out.returncode == 2 and out.stderr.count("\n") == 1


# ---------------------------------------------------------------------------- compare
def test_word_diff_and_its_wer():
    diff = word_diff("Ask not what your country can do for you.", "ask not what the country can do for you today")
    assert (diff.substitutions, diff.deletions, diff.insertions, diff.reference_words) == (1, 0, 1, 9)
    assert diff.wer == pytest.approx(2 / 9, abs=1e-4)
    assert [(c.kind, c.a, c.b) for c in diff.chunks if c.kind != "equal"] == [
        ("substitute", ["your"], ["the"]), ("insert", [], ["today"])]
    assert word_diff("Hello, world!", "hello world").wer == 0
    assert word_diff("", "").wer == 0 and word_diff("a b", "").deletions == 2


def test_boxes_are_matched_one_to_one_by_iou_and_class():
    a = [Detection("car", 0.9, (0, 0, 10, 10)), Detection("person", 0.8, (20, 20, 30, 40)),
         Detection("car", 0.7, (0, 1, 10, 11))]
    b = [Detection("car", 0.7, (1, 1, 10, 11)), Detection("car", 0.6, (20, 20, 30, 40))]
    match = match_boxes(a, b)
    assert [(i, j) for i, j, _ in match.pairs] == [(2, 0)]  # the best overlap wins; a person is never a car
    assert match.only_a == [0, 1] and match.only_b == [1]
    assert match_boxes([], b).only_b == [0, 1]


def test_entities_only_in_one_compare_spans_not_type_names():
    text = "Tim Cook visited London on Monday."
    a = EntityResult(text, [Entity("Tim Cook", "PER", 0, 8, 0.9), Entity("London", "LOC", 17, 23, 0.9)])
    b = EntityResult(text, [Entity("Tim Cook", "PERSON", 0, 8, None), Entity("Monday", "DATE", 27, 33, None)])
    only_a, only_b = entities_only_in(a, b)
    assert [e.text for e in only_a] == ["London"] and [e.text for e in only_b] == ["Monday"]
    marked = entity_html(text, a.entities, only_a)
    assert marked.count('class="only-here"') == 1 and marked.count('class="entity"') == 1


@pytest.mark.slow
def test_a_side_that_cannot_load_says_why_and_bad_input_raises(tasks):
    side = run_side(tasks, "sentiment", "distilbert-sst2", lambda m: tasks.sentiment("fine", model=m))
    assert not side.ok and "huggingface.co" in side.error and side.result is None
    side = run_side(tasks, "sentiment", None, lambda m: tasks.sentiment("fine", model=m))
    assert side.ok and side.model == "minilm-sst2" and side.memory_mb > 10 and side.seconds > 0
    with pytest.raises(InputError):
        run_side(tasks, "sentiment", None, lambda m: tasks.sentiment("   ", model=m))


@pytest.mark.slow
def test_both_image_models_share_the_manager_budget():
    """Under a budget that holds one classifier, comparing two evicts the first: both still answer."""
    from services.backends import register_all
    from services.catalog import Catalog
    from services.manager import ModelManager

    manager = ModelManager(Catalog.load(), budget_mb=35)
    register_all(manager)
    small = LocalTasks(manager)
    sides = [run_side(small, "image-classification", m, lambda i: small.classify([SAMPLES / "cat.jpg"], model=i)[0])
             for m in ("efficientnet-lite0", "efficientnet-lite2")]
    assert all(s.ok for s in sides)
    assert small.manager.loaded_ids() == ["efficientnet-lite2"]
    assert all(s.result.predictions[0].index in CAT_CLASSES for s in sides)


