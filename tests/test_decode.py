"""Tests for ``writing-alpaca decode`` (HF generate with batching, stop string, one line per record)."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from _causal_lm_fixtures import GRAMMAR, TEMPLATE, eval_file, fake_generate, tiny_base, trained_system, write_jsonl
from writing_alpaca import decode as decode_module
from writing_alpaca.decode import (
    STOP,
    DecodingSpec,
    decode,
    length_sorted_batches,
    load_lm,
    new_token_budget,
    one_line,
)
from writing_alpaca.errors import WritingAlpacaError

METRIC_KEYS = {
    "instances",
    "seconds",
    "instances_per_second",
    "generated_tokens",
    "tokens_per_second",
    "batch_size",
    "num_beams",
    "device",
    "hardware",
}


def test_one_line_cuts_at_stop_and_collapses_whitespace():
    assert one_line("  She goes\n to  school.\t") == "She goes to school."
    assert one_line("Fixed text.\n\n### Instruction:\nmore") == "Fixed text."
    assert one_line("### Response: nothing") == ""
    assert one_line("") == ""


def test_new_token_budget():
    assert new_token_budget(256, 10) == 36
    assert new_token_budget(20, 10) == 20
    assert new_token_budget(256, 0) == 16


def test_length_sorted_batches_cover_every_index_once():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = length_sorted_batches(lengths, 3)
    assert batches == [[1, 3, 6], [4, 0, 5], [2]]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    # unsort: writing each output to its index restores the input order
    restored = [None] * len(lengths)
    for i in flat:
        restored[i] = lengths[i]
    assert restored == lengths


def test_decoding_spec_validation():
    assert (
        DecodingSpec.from_dict({"num_beams": 16, "batch_size": 4, "max_new_tokens": 256, "backend": "hf"}).num_beams
        == 16
    )
    for bad, message in [({"num_beams": 0}, "num_beams"), ({"backend": "tgi"}, "backend"), ({"beams": 2}, "unknown")]:
        with pytest.raises(WritingAlpacaError, match=message):
            DecodingSpec.from_dict(bad)


def test_stop_string_criterion_flags_rows_whose_last_token_completes_the_stop_string():
    """transformers' StopStringCriteria (what ``generate(stop_strings=[STOP], tokenizer=...)``
    builds) on the suite's byte-level BPE: a row is flagged when its last token completes "###",
    whichever tokens spell it; a "###" further back (the prompt's) does not stop anything."""
    import torch
    from transformers import StopStringCriteria

    tok = load_lm(base=tiny_base()).tokenizer
    ids = {piece: tok.convert_tokens_to_ids(piece) for piece in ("#", "##", "###")}
    assert tok.unk_token_id not in ids.values()  # each is one token of the vocabulary
    prompt = tok("prompt text", add_special_tokens=True)["input_ids"]
    words = tok("She goes", add_special_tokens=False)["input_ids"]
    rows = {
        "###": words + [ids["###"]],
        "# ##": words + [ids["#"], ids["##"]],
        "## #": words + [ids["##"], ids["#"]],
        "# # #": words + [ids["#"]] * 3,
        "text ###": tok("She goes.\n\n###", add_special_tokens=False)["input_ids"],
        "## only": words + [ids["##"]],
        "# ## apart": words + [ids["#"]] + tok(" x", add_special_tokens=False)["input_ids"] + [ids["##"]],
        "### then text": words + [ids["###"]] + tok(" fine", add_special_tokens=False)["input_ids"],
        "no hash": tok("She goes to the park", add_special_tokens=False)["input_ids"],
    }
    width = max(len(r) for r in rows.values())
    batch = torch.tensor([[tok.pad_token_id] * (width - len(r)) + prompt + r for r in rows.values()])
    flags = dict(zip(rows, StopStringCriteria(tok, [STOP])(batch, None).tolist()))
    assert flags == {name: name in ("###", "# ##", "## #", "# # #", "text ###") for name in rows}


class _Steer:
    """A logits processor adding 100 to the next token of each record's scripted reply while the
    row (a beam candidate too: row // num_beams is its record) has followed the script so far."""

    def __init__(self, scripts, prompt_len: int, num_beams: int):
        self.scripts, self.prompt_len, self.num_beams = scripts, prompt_len, num_beams

    def __call__(self, input_ids, scores):
        for row in range(input_ids.shape[0]):
            script = self.scripts[row // self.num_beams]
            generated = input_ids[row, self.prompt_len :].tolist()
            if script is not None and len(generated) < len(script) and generated == script[: len(generated)]:
                scores[row, script[len(generated)]] += 100.0
        return scores


@pytest.mark.parametrize("num_beams, batch_size", [(1, 3), (2, 3), (4, 7)])
def test_each_row_and_beam_stops_where_its_own_text_reaches_the_stop_string(num_beams, batch_size):
    """Real ``generate`` (greedy and beam search, batched with left padding), the tiny model steered
    token by token to given replies: a record stops right after the token that completes "###"
    (the other rows of its batch go on), at EOS, or at its own budget; only the stopped row's text
    is cut at "###"."""
    from transformers import LogitsProcessorList

    lm = load_lm(base=tiny_base())
    tok = lm.tokenizer
    eos = [tok.eos_token_id]
    replies = {  # source -> (reply, expected output)
        "she go": ("She goes.\n\n### Instruction:\nmore words here", "She goes."),
        "the cat sat on mat": ("The cat sat###on the mat", "The cat sat"),
        "they is": ("They are. # not ## stop ### then", "They are. # not ## stop"),  # "#", "##" do not stop
        "a dog ran to the park": ("A dog ran.", "A dog ran."),  # then EOS
        "x": ("###", ""),
        "he go school": ("He goes to school ## and ## on and on and on and on and on and on", None),  # to its budget
    }
    sources = [*replies, "were she"]  # the last one is not steered: the untrained model runs to its budget
    scripts = {
        s: tok(reply, add_special_tokens=False)["input_ids"] + (eos if s == "a dog ran to the park" else [])
        for s, (reply, _) in replies.items()
    }
    budgets = dict(zip(sources, decode_module.token_budgets(tok, sources, 40)))

    def tokens_until_stop(script: list[int]) -> int:
        """Tokens a record keeps: through the one completing "###", else up to EOS."""
        for k in range(1, len(script) + 1):
            if STOP in tok.decode(script[:k]):
                return k
        return script.index(tok.eos_token_id) if tok.eos_token_id in script else len(script)

    expected_tokens = {s: min(tokens_until_stop(scripts[s]), budgets[s]) for s in replies}
    assert expected_tokens["he go school"] == budgets["he go school"] < len(scripts["he go school"])
    expected_tokens["were she"] = budgets["were she"]
    expected = [
        one_line(tok.decode(scripts[s][: budgets[s]])) if out is None else out for s, (_, out) in replies.items()
    ]

    real_generate = lm.model.generate
    seen = []

    def steered(**kwargs):
        seen.append({k: kwargs[k] for k in ("stop_strings", "tokenizer", "num_beams") if k in kwargs})
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        rows = []
        for row, keep in zip(ids.tolist(), mask.tolist()):
            prompt = tok.decode([i for i, m in zip(row, keep) if m], skip_special_tokens=True)
            rows.append(scripts.get(prompt.split("### Input:\n", 1)[1].split("\n\n### Response:", 1)[0]))
        return real_generate(**kwargs, logits_processor=LogitsProcessorList([_Steer(rows, ids.shape[1], num_beams)]))

    lm.model.generate = steered
    prompts = decode_module.build_prompts(TEMPLATE, GRAMMAR, sources)
    outputs, stats = decode_module.generate_hf(
        lm, prompts, sources, DecodingSpec(num_beams=num_beams, batch_size=batch_size, max_new_tokens=40)
    )
    assert all(call["stop_strings"] == [STOP] and call["tokenizer"] is tok for call in seen)
    assert len(seen) == -(-len(sources) // batch_size) and all(call.get("num_beams", 1) == num_beams for call in seen)
    assert outputs[:-1] == expected
    assert outputs[:-1] == ["She goes.", "The cat sat", "They are. # not ## stop", "A dog ran.", "", expected[5]]
    assert stats.generated_tokens == sum(expected_tokens.values())


def _patch_generation(monkeypatch, respond):
    """Make ``decode`` load the real tiny model but generate ``respond(source)`` for each record."""
    real_load = decode_module.load_lm

    def load(*args, **kwargs):
        lm = real_load(*args, **kwargs)
        lm.model.generate = fake_generate(lm.tokenizer, respond)
        return lm

    monkeypatch.setattr(decode_module, "load_lm", load)


def test_decode_strips_prompt_restores_order_and_writes_one_line_each(tmp_path, monkeypatch):
    sources = [
        "a b c d e f g h",
        "x",
        "she go school",
        "empty please",
        "two\nlines here",
        " ".join(["long"] * 12),
        "stop here",
    ]
    data = write_jsonl(
        tmp_path / "test.jsonl", [{"id": str(i), "source": s, "references": []} for i, s in enumerate(sources)]
    )

    def respond(source: str) -> str:
        if source == "empty please":
            return ""
        if source == "stop here":
            return "Stopped.\n\n### Instruction:\nignored"
        return f"[{source.upper()}]\n  done"

    _patch_generation(monkeypatch, respond)
    out, metrics_path = tmp_path / "out.txt", tmp_path / "out.metrics.json"
    decode(
        data,
        GRAMMAR,
        TEMPLATE,
        {"num_beams": 1, "batch_size": 3, "max_new_tokens": 64},
        out,
        metrics_path,
        base=tiny_base(),
    )
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(sources)
    expected = [
        "[A B C D E F G H] done",
        "[X] done",
        "[SHE GO SCHOOL] done",
        "",
        "[TWO LINES HERE] done",
        None,  # below: cut to its own budget
        "Stopped.",
    ]
    # the reply to the long record is longer than its budget, min(64, 2 * n + 16): it is cut there
    tok = load_lm(base=tiny_base()).tokenizer
    budget = new_token_budget(64, len(tok(sources[5], add_special_tokens=False)["input_ids"]))
    reply = tok(respond(sources[5]), add_special_tokens=False)["input_ids"]
    assert len(reply) > budget
    expected[5] = one_line(tok.decode(reply[:budget]))
    assert expected[5].startswith("[LONG LONG") and not expected[5].endswith("done")
    assert lines[:-1] == expected
    metrics = json.loads(metrics_path.read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["instances"] == len(sources) and metrics["batch_size"] == 3 and metrics["num_beams"] == 1
    import torch

    if torch.cuda.is_available():
        assert metrics["device"] == "cuda"
    else:
        assert metrics["device"] == "cpu" and metrics["hardware"].startswith("CPU")
    assert metrics["generated_tokens"] > 0


@pytest.mark.parametrize("num_beams", [1, 2])
def test_real_generation_with_a_trained_lora_system(tmp_path, num_beams):
    system = trained_system("lora")
    data = eval_file(6)
    out, metrics_path = tmp_path / "out.txt", tmp_path / "m.json"
    metrics = decode(
        data,
        GRAMMAR,
        TEMPLATE,
        {"num_beams": num_beams, "batch_size": 4, "max_new_tokens": 12},
        out,
        metrics_path,
        system_dir=system,
    )
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 6
    assert all("\n" not in line and "###" not in line and "Below is an instruction" not in line for line in lines)
    assert metrics["num_beams"] == num_beams and metrics["instances"] == 6
    assert 0 <= metrics["generated_tokens"] <= 6 * 12


def test_full_system_and_base_model_decode_and_cli(tmp_path):
    parser = argparse.ArgumentParser()
    decode_module.register(parser.add_subparsers())
    for which in (["--system-dir", str(trained_system("full"))], ["--base", str(tiny_base())]):
        out = tmp_path / "o.txt"
        args = parser.parse_args(
            [
                "decode",
                *which,
                "--data",
                str(eval_file(6)),
                "--task-prompt",
                GRAMMAR,
                "--template",
                json.dumps(TEMPLATE),
                "--decoding",
                json.dumps({"num_beams": 1, "batch_size": 16, "max_new_tokens": 6}),
                "--out",
                str(out),
                "--metrics",
                str(tmp_path / "o.json"),
            ]
        )
        assert args.func(args) == 0
        assert len(out.read_text(encoding="utf-8").split("\n")) == 7


def test_decode_errors(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"source": "ok"}, {"id": "no source"}])
    with pytest.raises(WritingAlpacaError, match=r"bad.jsonl:2: .*'source'"):
        decode(bad, GRAMMAR, TEMPLATE, {}, tmp_path / "o.txt", tmp_path / "o.json", base=tiny_base())
    with pytest.raises(WritingAlpacaError, match="system.json missing"):
        decode(eval_file(6), GRAMMAR, TEMPLATE, {}, tmp_path / "o.txt", tmp_path / "o.json", system_dir=tmp_path)
    assert not (tmp_path / "o.txt").exists()


def test_free_instructions_use_their_own_instruction_and_the_no_input_template(tmp_path, monkeypatch):
    """Table 6's free instructions (``writing-alpaca data free``): a record without input is asked
    its own instruction with prompt_no_input and may answer up to max_new_tokens."""
    from writing_alpaca import cli

    free = tmp_path / "results/data/free/table6.jsonl"
    assert (
        cli.main(
            [
                "data",
                "free",
                "--name",
                "table6",
                "--instructions",
                json.dumps(["Tell me about panda."]),
                "--out",
                str(free),
            ]
        )
        == 0
    )
    (record,) = [json.loads(line) for line in free.read_text(encoding="utf-8").splitlines()]
    assert record == {"id": "table6-000001", "task": "generic", "instruction": "Tell me about panda.", "input": ""}
    test_record = {"id": "t", "source": "she go school", "references": []}
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [record, test_record])

    seen = {}
    real = decode_module.generate_hf

    def spy(lm, prompts, sources, spec):
        seen["prompts"], seen["budgets"] = (
            list(prompts),
            decode_module.token_budgets(lm.tokenizer, sources, spec.max_new_tokens),
        )
        return real(lm, prompts, sources, spec)

    monkeypatch.setattr(decode_module, "generate_hf", spy)
    out, metrics = tmp_path / "out.txt", tmp_path / "out.metrics.json"
    decode(mixed, GRAMMAR, TEMPLATE, {"max_new_tokens": 40}, out, metrics, base=tiny_base())
    assert seen["prompts"] == [
        TEMPLATE["prompt_no_input"].format(instruction="Tell me about panda."),  # its own, no "### Input:"
        TEMPLATE["prompt_input"].format(instruction=GRAMMAR, input="she go school"),  # the task prompt
    ]
    assert "### Input:" not in seen["prompts"][0]
    assert seen["budgets"][0] == 40  # an answer, not an edit of an input: the whole max_new_tokens
    assert seen["budgets"][1] < 40
    assert len(out.read_text(encoding="utf-8").split("\n")) == 3

    # the rule passes no --task-prompt for free instructions; a test record then needs one
    parser = argparse.ArgumentParser()
    decode_module.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "decode",
            "--base",
            str(tiny_base()),
            "--data",
            str(free),
            "--template",
            json.dumps(TEMPLATE),
            "--decoding",
            json.dumps({"max_new_tokens": 6}),
            "--out",
            str(out),
            "--metrics",
            str(metrics),
        ]
    )
    assert args.func(args) == 0 and len(out.read_text(encoding="utf-8").split("\n")) == 2
    with pytest.raises(WritingAlpacaError, match=r"mixed\.jsonl:2: .*no --task-prompt"):
        decode(mixed, None, TEMPLATE, {}, out, metrics, base=tiny_base())
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"instruction": " ", "input": ""}])
    with pytest.raises(WritingAlpacaError, match=r"bad\.jsonl:1: .*'instruction' must be a non-empty string"):
        decode(bad, None, TEMPLATE, {}, out, metrics, base=tiny_base())


def test_vllm_backend_is_optional_and_explains_itself(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    with pytest.raises(WritingAlpacaError, match="vllm is not installed"):
        decode(
            eval_file(6),
            GRAMMAR,
            TEMPLATE,
            {"backend": "vllm"},
            tmp_path / "o.txt",
            tmp_path / "o.json",
            base=tiny_base(),
        )


# ------------------------------------------------------------------------------------------
# Per-record budgets: an output does not depend on the records that share its batch
# ------------------------------------------------------------------------------------------
def test_outputs_do_not_depend_on_batch_composition(tmp_path):
    sources = ["she go", "the cat sat on mat a dog ran to park he go goes", "they is", "a dog ran to the park", "x"]
    data = write_jsonl(
        tmp_path / "t.jsonl", [{"id": str(i), "source": s, "references": []} for i, s in enumerate(sources)]
    )
    lm = load_lm(base=tiny_base())
    budgets = decode_module.token_budgets(lm.tokenizer, sources, 40)
    assert len(set(budgets)) > 1 and max(budgets) == 40  # the records have different budgets
    outputs = {}
    for batch_size in (1, 2, 5):
        out = tmp_path / f"bs{batch_size}.txt"
        decode(
            data,
            GRAMMAR,
            TEMPLATE,
            {"batch_size": batch_size, "max_new_tokens": 40},
            out,
            tmp_path / "m.json",
            base=tiny_base(),
        )
        outputs[batch_size] = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert outputs[1] == outputs[2] == outputs[5]
    # the untrained model runs on (no EOS, no "###"): every record gets exactly its own budget
    prompts = decode_module.build_prompts(TEMPLATE, GRAMMAR, sources)
    _, stats = decode_module.generate_hf(lm, prompts, sources, DecodingSpec(batch_size=5, max_new_tokens=40))
    assert stats.generated_tokens == sum(budgets)


# ------------------------------------------------------------------------------------------
# The vLLM backend's request contract, checked against a recording stand-in for vLLM.
# The stand-in answers each request the way vLLM's greedy decoding is specified to (one
# prompt at a time, ``max_tokens``, text cut before the stop string), using the HF model;
# it verifies what our backend asks for, not vLLM itself (that needs a GPU).
# ------------------------------------------------------------------------------------------
class _RecordingVLLM:
    calls: list = []

    def __init__(self):
        import types

        self.module = types.ModuleType("vllm")
        self.lora_module = types.ModuleType("vllm.lora.request")
        record = self.calls

        class SamplingParams:
            def __init__(self, **kwargs):
                self.__dict__.update(kwargs)

        class LoRARequest:
            def __init__(self, name, int_id, path):
                self.name, self.int_id, self.path = name, int_id, path

        class LLM:
            def __init__(self, **kwargs):
                record.append(("init", kwargs))
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self.model = AutoModelForCausalLM.from_pretrained(kwargs["model"])
                self.tokenizer = AutoTokenizer.from_pretrained(kwargs["tokenizer"])

            def generate(self, prompts, params, lora_request=None, use_tqdm=True):
                import types as _types

                import torch

                record.append(("generate", {"prompts": list(prompts), "params": list(params), "lora": lora_request}))
                model = self.model
                if lora_request is not None:
                    from peft import PeftModel

                    model = PeftModel.from_pretrained(self.model, lora_request.path).merge_and_unload()
                results = []
                for prompt, p in zip(prompts, params):
                    assert p.temperature == 0.0
                    ids = self.tokenizer(prompt, return_tensors="pt")
                    with torch.inference_mode():
                        out = model.generate(
                            **ids,
                            max_new_tokens=p.max_tokens,
                            do_sample=False,
                            pad_token_id=self.tokenizer.pad_token_id or 0,
                        )
                    new = out[0, ids["input_ids"].shape[1] :].tolist()
                    if self.tokenizer.eos_token_id in new:
                        new = new[: new.index(self.tokenizer.eos_token_id)]
                    text = self.tokenizer.decode(new, skip_special_tokens=True)
                    for stop in p.stop:
                        text = text.split(stop, 1)[0]
                    completion = _types.SimpleNamespace(text=text, token_ids=new)
                    results.append(_types.SimpleNamespace(outputs=[completion]))
                return results

        self.module.LLM, self.module.SamplingParams = LLM, SamplingParams
        self.lora_module.LoRARequest = LoRARequest

    def install(self, monkeypatch):
        self.calls.clear()
        monkeypatch.setitem(sys.modules, "vllm", self.module)
        monkeypatch.setitem(sys.modules, "vllm.lora", self.module)
        monkeypatch.setitem(sys.modules, "vllm.lora.request", self.lora_module)
        return self.calls


@pytest.mark.parametrize("which", ["base", "full", "lora"])
def test_vllm_backend_asks_for_what_hf_greedy_generates(tmp_path, monkeypatch, which):
    if which == "base":
        model = {"base": tiny_base()}
    elif which == "full":
        model = {"system_dir": trained_system("full")}
    else:  # an adapter vLLM can serve: attention projections only, rank 12 -> max_lora_rank 16
        lora = {"r": 12, "alpha": 24, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
        model = {"system_dir": trained_system("lora", lora=lora)}
    data = eval_file(6)
    decoding = {"batch_size": 4, "max_new_tokens": 20}
    decode(data, GRAMMAR, TEMPLATE, decoding, tmp_path / "hf.txt", tmp_path / "hf.json", **model)
    calls = _RecordingVLLM().install(monkeypatch)
    metrics = decode(
        data, GRAMMAR, TEMPLATE, {**decoding, "backend": "vllm"}, tmp_path / "vllm.txt", tmp_path / "v.json", **model
    )
    assert (tmp_path / "vllm.txt").read_text(encoding="utf-8") == (tmp_path / "hf.txt").read_text(encoding="utf-8")
    (_, init), (_, request) = calls
    weights, adapter, tokenizer_dir = decode_module.resolve_model_dirs(**model)
    # decoding.precision auto: on a GPU resolved as for HF (tests/test_train.py), here left to vLLM's CPU backend
    assert init["model"] == str(weights) and init["tokenizer"] == str(tokenizer_dir) and init["dtype"] == "auto"
    lm = load_lm(**model)
    sources = [json.loads(line)["source"] for line in data.read_text().splitlines()]
    assert request["prompts"] == decode_module.build_prompts(TEMPLATE, GRAMMAR, sources)
    assert [p.max_tokens for p in request["params"]] == decode_module.token_budgets(lm.tokenizer, sources, 20)
    assert all(p.stop == ["###"] for p in request["params"])
    if which == "lora":
        assert init["enable_lora"] and init["max_lora_rank"] == 16
        assert request["lora"].path == str(adapter)
    else:
        assert "enable_lora" not in init and request["lora"] is None
    assert metrics["backend"] == "vllm" and metrics["instances"] == 6


def test_vllm_backend_refuses_what_it_cannot_serve(tmp_path, monkeypatch):
    _RecordingVLLM().install(monkeypatch)
    # the suite's LoRA system also trains lm_head, which vLLM's LoRA layers do not cover
    with pytest.raises(
        WritingAlpacaError, match=r"adapter_config.json: the adapter trains lm_head; .*backend: hf.*merge"
    ):
        decode(
            eval_file(6),
            GRAMMAR,
            TEMPLATE,
            {"backend": "vllm"},
            tmp_path / "o.txt",
            tmp_path / "o.json",
            system_dir=trained_system("lora"),
        )
    with pytest.raises(
        WritingAlpacaError, match=r"decoding: backend .vllm. decodes greedily only \(num_beams: 1\), got num_beams: 4"
    ):
        decode(
            eval_file(6),
            GRAMMAR,
            TEMPLATE,
            {"backend": "vllm", "num_beams": 4},
            tmp_path / "o.txt",
            tmp_path / "o.json",
            base=tiny_base(),
        )
    assert not (tmp_path / "o.txt").exists()


def test_decoding_precision_is_a_setting_of_both_backends(monkeypatch):
    """decodings.<name>.precision: auto is fp32 on CPU; a half precision needs a GPU, one clear error."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert DecodingSpec.from_dict({}).precision == "auto"
    assert next(load_lm(base=tiny_base(), precision="fp32").model.parameters()).dtype == torch.float32
    for half in ("bf16", "fp16"):
        with pytest.raises(WritingAlpacaError, match=f"decoding.precision is {half} but no GPU is available"):
            load_lm(base=tiny_base(), precision=half)
    assert decode_module.vllm_dtype("auto") == "auto" and decode_module.vllm_dtype("fp16") == "float16"
    with pytest.raises(WritingAlpacaError, match=r"decoding.precision: Input should be 'auto', 'bf16'"):
        DecodingSpec.from_dict({"precision": "half"})
