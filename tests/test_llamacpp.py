"""The bundled GGUF chat models on llama.cpp, for real: answers, seeds, concurrent
sessions on one copy of the weights, the context window, Stop during pre-fill,
and corrupt files."""

import dataclasses
import shutil
import threading
import time

import psutil
import pytest

from services import chat
from services.backends.generation import GenerationSettings
from services.backends.llamacpp import LlamaCppChat
from services.catalog import Catalog, check_availability
from services.chat import Message
from services.errors import InputError, ModelUnavailable
from services.manager import ModelManager
from services.local import LocalTasks

pytestmark = pytest.mark.slow
SMALL = "qwen2.5-coder-0.5b-instruct"
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0)


def ask(question: str, model: str, manager, settings=GREEDY) -> str:
    return LocalTasks(manager).generate(question, settings, model, system=chat.DEFAULT_SYSTEM_PROMPT).text


def test_every_bundled_gguf_model_is_available_and_pinned():
    catalog = Catalog.load()
    for model_id in ("qwen2.5-coder-1.5b-instruct", SMALL, "smollm2-135m-instruct"):
        spec = catalog.get(model_id)
        assert spec.backend == "llamacpp" and len(spec.option("sha256")) == 64
        assert check_availability(spec).available, check_availability(spec).reason
    assert catalog.default_for("text-generation").id == "qwen2.5-coder-1.5b-instruct"


def test_the_default_model_answers_facts_and_arithmetic(manager):
    assert "paris" in ask("What is the capital of France? Answer in one word.", None, manager).lower()
    assert "84" in ask("What is 12 times 7? Answer with the number only.", None, manager)
    status = {s.id: s for s in manager.status()}["qwen2.5-coder-1.5b-instruct"]
    assert status.loaded and status.device == "cpu" and status.precision == "Q4_K_M"


def test_multi_turn_conversation_remembers_and_reuses_the_cache(manager):
    settings = GenerationSettings(max_new_tokens=16, temperature=0)
    first = chat.user_turn([], "My name is Ada. Just say hello.", chat.DEFAULT_SYSTEM_PROMPT)
    reply = LocalTasks(manager).chat_reply(first, settings, SMALL)
    follow = chat.user_turn(first + [Message("assistant", reply.text)], "What is my name?", chat.DEFAULT_SYSTEM_PROMPT)
    again = LocalTasks(manager).chat_reply(follow, settings, SMALL)
    assert "ada" in again.text.lower()
    assert again.cached_tokens >= reply.prompt_tokens - 2  # only the new turn was pre-filled


def test_same_seed_same_answer_other_seed_other_answer(manager):
    sampled = GenerationSettings(max_new_tokens=32, temperature=1.0, seed=3)
    first = ask("Write one sentence about the sea.", SMALL, manager, sampled)
    second = ask("Write one sentence about the sea.", SMALL, manager, sampled)
    assert first == second
    others = {ask("Write one sentence about the sea.", SMALL, manager, dataclasses.replace(sampled, seed=s))
              for s in (4, 5, 6)}
    assert others - {first}


def test_two_sessions_stream_at_once_and_never_mix(manager):
    questions = {"fr": "What is the capital of France? One word.", "jp": "What is the capital of Japan? One word."}
    answers, first_piece, finished = {}, {}, {}
    LocalTasks(manager).load("text-generation", SMALL)
    started = time.perf_counter()

    def session(key):
        settings = GenerationSettings(max_new_tokens=48, temperature=0)
        stream = LocalTasks(manager).chat_stream(chat.user_turn([], questions[key] + " Then explain in two sentences."), settings,
                                 SMALL)
        text = ""
        for piece in stream:
            if piece and key not in first_piece:
                first_piece[key] = time.perf_counter() - started
            text += piece
        finished[key] = time.perf_counter() - started
        answers[key] = text

    threads = [threading.Thread(target=session, args=(k,)) for k in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert "paris" in answers["fr"].lower() and "tokyo" not in answers["fr"].lower()
    assert "tokyo" in answers["jp"].lower() and "paris" not in answers["jp"].lower()
    assert max(first_piece.values()) < min(finished.values())  # both were streaming at the same time


def test_four_chats_share_one_copy_of_the_weights(manager):
    model = manager.get(SMALL)
    process = psutil.Process()
    before = process.memory_info().rss
    results = []

    def session(i):
        results.append(LocalTasks(manager).chat_reply(chat.user_turn([], f"Count from {i} to {i + 20}."),
                                      GenerationSettings(max_new_tokens=40, temperature=0), SMALL))

    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert len(results) == 4 and all(r.tokens > 10 for r in results)
    assert manager.get(SMALL) is model
    grown = (process.memory_info().rss - before) / 2**20
    assert grown < 0.25 * model.path.stat().st_size / 2**20, f"RSS grew {grown:.0f} MB"


@pytest.fixture(scope="module")
def tiny_context():
    """SmolLM2 on llama.cpp with a 512-token context and one slot, behind its own manager."""
    catalog = Catalog.load()
    spec = catalog.get("smollm2-135m-instruct")
    from services.backends.gguf_files import gguf_path

    manager = ModelManager(catalog, device="cpu",
                           loaders={"llamacpp": lambda s, d: LlamaCppChat(gguf_path(s), s.name, n_slots=1, context=512)})
    yield manager, spec.id
    manager.unload_all()


def test_an_overflowing_conversation_drops_the_oldest_turns(tiny_context):
    manager, model = tiny_context
    history = []
    for i in range(8):
        history += [Message("user", f"Tell me fact number {i} about rivers. " * 4),
                    Message("assistant", f"Fact {i}: rivers flow downhill towards the sea. " * 4)]
    history.append(Message("user", "Thanks! Now say goodbye."))
    stream = LocalTasks(manager).chat_stream(history, GenerationSettings(max_new_tokens=32, temperature=0), model)
    assert stream.dropped > 0 and stream.dropped % 2 == 0
    text = "".join(stream)
    assert text.strip() and stream.result.dropped_messages == stream.dropped
    assert stream.result.prompt_tokens + 32 <= 512


@pytest.mark.parametrize("text, message", [("   ", "empty"), ("word " * 20_000, "too long")])
def test_an_empty_or_huge_message_gets_a_clear_message(tiny_context, text, message):
    manager, model = tiny_context
    with pytest.raises(InputError, match=message):
        LocalTasks(manager).chat_stream([Message("user", text)] if text.strip() else chat.user_turn([], text), GREEDY, model)
    assert LocalTasks(manager).generate("Say hi.", GREEDY, model).text  # the model still answers


def test_stop_during_a_long_prefill_ends_at_once(manager):
    LocalTasks(manager).load("text-generation", SMALL)
    stop = threading.Event()
    long = "Here is a long document about many different subjects. " * 300  # ~3,000 tokens: many seconds of pre-fill
    stream = LocalTasks(manager).chat_stream(chat.user_turn([], long + "\nSummarise it."), GREEDY, SMALL, stop=stop)
    threading.Timer(1.0, stop.set).start()
    started = time.perf_counter()
    pieces = [p for p in stream if p]
    assert time.perf_counter() - started < 6
    assert stream.result.finish_reason == "stopped" and not pieces
    assert "paris" in ask("What is the capital of France? One word.", SMALL, manager).lower()  # slot free again


def test_a_corrupt_or_truncated_gguf_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    catalog = Catalog.load()
    good = catalog.get("smollm2-135m-instruct")
    from services.backends.gguf_files import gguf_path
    from services.backends.llamacpp import load_gguf_chat

    copy = tmp_path / "model.gguf"
    shutil.copy(gguf_path(good), copy)
    with copy.open("r+b") as handle:
        handle.truncate(copy.stat().st_size // 2)
    options = dict(good.options, path=str(copy))
    truncated = dataclasses.replace(good, source="local", options=options)
    with pytest.raises(ModelUnavailable, match="corrupt or truncated"):
        load_gguf_chat(truncated, "cpu")
    manager = ModelManager(catalog, device="cpu", loaders={"llamacpp": load_gguf_chat})
    manager.catalog._specs[good.id] = truncated
    with pytest.raises(ModelUnavailable, match="sha256"):
        manager.get(good.id)
    assert "sha256" in {s.id: s for s in manager.status()}[good.id].last_error


def test_cli_answers_a_file_of_prompts_in_one_process(tmp_path):
    import json
    import subprocess
    import sys

    from .conftest import ROOT

    prompts = tmp_path / "questions.txt"
    prompts.write_text("What is the capital of France? One word.\n\nWhat is the capital of Japan? One word.\n")
    run = subprocess.run([sys.executable, "-m", "services", "--json", "generate", "--file", str(prompts), "--model", SMALL,
                          "--max-new-tokens", "8", "--system", "Answer with one word."],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    answers = json.loads(run.stdout)
    assert [a["prompt"] for a in answers] == ["What is the capital of France? One word.",
                                              "What is the capital of Japan? One word."]
    assert "paris" in answers[0]["text"].lower() and "tokyo" in answers[1]["text"].lower()
    assert all(a["model"] == SMALL and a["tokens_per_second"] > 0 for a in answers)
    missing = subprocess.run([sys.executable, "-m", "services", "generate"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: give a PROMPT or --file F"
