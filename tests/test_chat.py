"""Conversations without a model: fitting the context, import/export, and split GGUF files."""

import hashlib
import json
import sys

import pytest

from services import chat
from services.catalog import Availability, ModelSpec
from services.chat import Message
from services.errors import InputError, ModelUnavailable
from services.local import LocalTasks


def by_chars(messages):  # a stand-in tokenizer: one token per character, plus 4 per message
    return sum(len(m.content) + 4 for m in messages)


def conversation(turns: int, size: int = 100) -> list[Message]:
    out = [Message("system", "S" * 20)]
    for i in range(turns):
        out += [Message("user", f"{i}" * size), Message("assistant", f"{i}" * size)]
    return out + [Message("user", "last question")]


def test_fit_keeps_everything_that_fits():
    msgs = conversation(2)
    fit = chat.fit_to_context(msgs, by_chars, context=10_000, reserve=100)
    assert fit.messages == msgs and fit.dropped == 0 and fit.prompt_tokens == by_chars(msgs)


def test_fit_drops_oldest_whole_turns_and_keeps_system_and_last_question():
    msgs = conversation(10)
    fit = chat.fit_to_context(msgs, by_chars, context=700, reserve=100)
    assert fit.messages[0].role == "system" and fit.messages[-1].content == "last question"
    assert fit.dropped % 2 == 0 and fit.dropped > 0  # user + answer pairs, never half a turn
    assert fit.messages[1].role == "user"
    assert by_chars(fit.messages) <= 600
    assert fit.messages[1:] == msgs[1 + fit.dropped:]


def test_a_turn_with_several_answers_is_dropped_whole():
    msgs = [Message("user", "a" * 300), Message("assistant", "b" * 300), Message("assistant", "c" * 300),
            Message("user", "q")]
    fit = chat.fit_to_context(msgs, by_chars, context=200, reserve=50)
    assert fit.dropped == 3 and [m.content for m in fit.messages] == ["q"]


def test_a_last_message_that_cannot_fit_is_refused_with_the_numbers():
    msgs = [Message("system", "S"), Message("user", "x" * 5000)]
    with pytest.raises(InputError, match="too long.*5,009 tokens.*context of 4,096"):
        chat.fit_to_context(msgs, by_chars, context=4096, reserve=256)


def test_conversation_must_end_with_the_user():
    with pytest.raises(InputError, match="end with a user"):
        chat.fit_to_context([Message("user", "a"), Message("assistant", "b")], by_chars, 100, 10)


def test_json_round_trip_keeps_messages_and_answer_stats():
    msgs = [Message("system", "Be brief."), Message("user", "Hi <b>there</b> 😀"),
            Message("assistant", "Hello!", {"tokens": 3, "tokens_per_second": 31.5})]
    doc = chat.to_json(msgs, "qwen2.5-coder-1.5b-instruct", {"temperature": 0.7})
    assert json.loads(doc)["format"] == chat.FORMAT
    assert chat.from_json(doc) == msgs
    assert chat.from_json(doc.encode("utf-8")) == msgs


def test_a_plain_openai_style_list_loads():
    assert chat.from_json('[{"role": "user", "content": "hi"}]') == [Message("user", "hi")]


@pytest.mark.parametrize("raw, message", [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"messages": 3}', "no list of messages"),
    (b'{"messages": [{"role": "wizard", "content": "x"}]}', "unknown role 'wizard'"),
    (b'{"messages": [{"role": "user"}]}', "'role' and 'content'"),
    (b'{"messages": [{"role": "user", "content": 5}]}', "must be text"),
    (b'{"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}', "first message"),
    (b'[{"role": "user", "content": "   "}]', "empty"),
    (json.dumps([{"role": "user", "content": "x"}] * 1001).encode(), "limit is 1,000"),
    (b"[" + b" " * (6 * 2**20) + b"]", "larger than 5 MB"),
])
def test_bad_conversation_files_give_one_clear_message(raw, message):
    with pytest.raises(InputError, match=message):
        chat.from_json(raw)


def test_markdown_export_has_every_turn():
    md = chat.to_markdown([Message("user", "Q?"), Message("assistant", "A.")], "m")
    assert "## User\n\nQ?" in md and "## Assistant\n\nA." in md and "`m`" in md


def test_user_turn_puts_the_system_prompt_first_once():
    msgs = chat.user_turn([Message("system", "old"), Message("user", "a"), Message("assistant", "b")], "c", "new")
    assert [(m.role, m.content) for m in msgs] == [("system", "new"), ("user", "a"), ("assistant", "b"), ("user", "c")]
    with pytest.raises(InputError, match="empty"):
        chat.user_turn([], " \n ")


def test_literal_escapes_markdown_and_html():
    from ui.chat import literal

    shown = literal("<script>x</script> **bold** [a](b)\nline")
    assert "\\<script\\>" in shown and "\\*\\*bold\\*\\*" in shown and "\\[a\\]\\(b\\)" in shown and "  \n" in shown


# ---------------------------------------------------------------- split GGUF files
@pytest.fixture
def split_packages(tmp_path, monkeypatch):
    """Three fake part packages on sys.path, and a cache folder of our own."""
    data = [bytes([i]) * (1000 + i) for i in range(3)]
    for n, blob in enumerate(data, start=1):
        folder = tmp_path / "site" / f"fakeparts_{n}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{n:02d}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    whole = b"".join(data)
    return whole, hashlib.sha256(whole).hexdigest()


def split_spec(sha: str, size: int, parts: int = 3) -> ModelSpec:
    return ModelSpec(id="fake-split", task="text-generation", name="fake", backend="llamacpp", source="parts",
                     licence="", size_mb=1, options={"parts": parts, "parts_package": "fakeparts_{n}",
                                                     "parts_path": "data/part{n:02d}.bin", "sha256": sha, "bytes": size})


def test_parts_are_joined_once_in_order_and_verified(split_packages):
    from services.backends.gguf_files import gguf_path
    from services.catalog import check_availability

    whole, sha = split_packages
    spec = split_spec(sha, len(whole))
    assert check_availability(spec).available
    path = gguf_path(spec)
    assert path.read_bytes() == whole
    assert gguf_path(spec) == path  # second time: the stamp, no re-join


def test_a_wrong_hash_is_refused_and_leaves_no_file(split_packages):
    from services.backends.gguf_files import gguf_path

    whole, _ = split_packages
    with pytest.raises(ModelUnavailable, match="not the pinned"):
        gguf_path(split_spec("0" * 64, len(whole)))
    from services.config import cache_dir

    assert not list((cache_dir() / "gguf").glob("*"))


def test_a_joined_file_truncated_later_is_refused(split_packages):
    from services.backends.gguf_files import gguf_path

    whole, sha = split_packages
    path = gguf_path(split_spec(sha, len(whole)))
    path.write_bytes(whole[:-10])
    with pytest.raises(ModelUnavailable, match="corrupt or truncated"):
        gguf_path(split_spec(sha, len(whole)))


def test_a_missing_part_package_says_which(split_packages):
    from services.catalog import check_availability

    whole, sha = split_packages
    found = check_availability(split_spec(sha, len(whole), parts=4))
    assert not found.available and "fakeparts_4" in found.reason
    assert "fakeparts_4" not in sys.modules


# ---------------------------------------------------------------- the model is held while a stream lives
class EchoLM:
    """A stand-in language model: echoes the last message, word by word."""

    device = "cpu"
    context_length = 1000

    def memory_bytes(self):
        return 1

    def count_tokens(self, messages):
        return by_chars(messages)

    def stream(self, messages, settings, stop=None):
        from services.backends.generation import TextStream
        from services.results import Generation

        holder = None

        def pieces():
            words = messages[-1].content.split()
            for word in words:
                yield word + " "
            holder.result = Generation(prompt=messages[-1].content, text=" ".join(words), tokens=len(words), seconds=0.1)

        holder = TextStream(pieces())
        return holder


@pytest.fixture
def echo_manager():
    from services.manager import ModelManager

    catalog = chat_catalog()
    return ModelManager(catalog, device="cpu", loaders={"echo": lambda spec, device: EchoLM()},
                        check=lambda spec: Availability(True, "test"))


def chat_catalog():
    from services.catalog import Catalog

    return Catalog([ModelSpec(id="echo", task="text-generation", name="Echo", backend="echo", source="local",
                              licence="", size_mb=1, default=True)])


def test_a_stream_holds_the_model_until_it_ends_or_is_closed(echo_manager):

    stream = LocalTasks(echo_manager).chat_stream([Message("user", "one two three")], None, "echo")
    with pytest.raises(TimeoutError):
        echo_manager.unload("echo", wait=0.1)  # busy: a stream is open
    stream.close()  # closed before it was ever read
    assert echo_manager.unload("echo", wait=0.1)
    stream = LocalTasks(echo_manager).chat_stream([Message("user", "one two three")], None, "echo")
    assert "".join(stream).split() == ["one", "two", "three"] and stream.result.model == "echo"
    assert echo_manager.unload("echo", wait=0.1)


def test_a_refused_request_leaves_the_model_free(echo_manager):

    with pytest.raises(InputError, match="too long"):
        LocalTasks(echo_manager).chat_stream([Message("user", "x" * 5000)], None, "echo")
    assert echo_manager.unload("echo", wait=0.1)
