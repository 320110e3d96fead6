"""The paper configuration says what the paper says (prompts, template, systems, data sizes)."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from writing_alpaca.format import PROMPTS, TEMPLATE

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())

# Table 1 of Zhang et al. (2023), verbatim.
PAPER_PROMPTS = {
    "grammar": "Fix grammatical errors in the text.",
    "fluency": "Make the text more fluent.",
    "clarity": "Make the text more concise and readable.",
    "coherence": "Make the text more cohesive.",
    "simplification": "Simplify the text.",
    "neutralization": "Neutralize the text.",
    "paraphrase": "Paraphrase the text.",
}

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)


def test_prompts_are_the_papers_exactly():
    assert {task: spec["prompt"] for task, spec in CONFIG["tasks"].items()} == PAPER_PROMPTS
    assert PROMPTS == PAPER_PROMPTS


def test_alpaca_template():
    template = CONFIG["template"]
    assert template == dict(TEMPLATE)
    rendered = template["prompt_input"].format(instruction=PAPER_PROMPTS["grammar"], input="She go home .")
    assert rendered == (
        f"{ALPACA_PREAMBLE}\n\n### Instruction:\nFix grammatical errors in the text.\n\n"
        "### Input:\nShe go home .\n\n### Response:\n"
    )
    assert template["response_split"] == "### Response:"


def test_ten_test_sets_with_the_papers_sizes_and_metrics():
    expected = {
        "conll14": (1312, "m2", "grammar"),
        "bea19_dev": (4384, "errant", "grammar"),
        "jfleg": (747, "gleu", "fluency"),
        "itr_f": (88, "sari", "fluency"),
        "itr_l": (185, "sari", "clarity"),
        "itr_o": (35, "sari", "coherence"),
        "turk": (359, "sari", "simplification"),
        "asset": (359, "sari", "simplification"),
        "wnc": (1000, "sari", "neutralization"),
        "sts": (97, "sari", "paraphrase"),
    }
    got = {n: (t["size"], t["metric"], t["task"]) for n, t in CONFIG["test_sets"].items()}
    assert got == expected
    assert CONFIG["tables"]["table4"]["test_sets"] == list(expected)


def test_wnc_test_set_is_every_line_of_biased_word_test():
    # The paper's 1,000 WNC test sentences are the whole upstream biased.word.test (EditEval keeps every row).
    wnc = CONFIG["test_sets"]["wnc"]
    assert wnc["path"] == "bias_data/WNC/biased.word.test" and wnc["size"] == 1000
    assert wnc.get("sample") is None


def test_table4_and_table7_systems():
    systems = CONFIG["systems"]
    t4 = [systems[s]["label"] for s in CONFIG["tables"]["table4"]["systems"]]
    assert t4 == [
        "LLaMA-7B",
        "Alpaca-7B",
        "Alpaca-13B",
        "Alpaca-7B (GPT-4 data)",
        "Writing-Alpaca-7B",
        "Writing-Alpaca-7B w/o generic",
        "Writing-Alpaca-7B (full FT)",
    ]
    t7 = CONFIG["tables"]["table7"]
    assert [systems[s]["kind"] for s in t7["systems"]] == ["gector", "seq2seq", "causal_lm", "causal_lm", "causal_lm"]
    assert CONFIG["decodings"][t7.get("decoding", CONFIG["decoding"])]["num_beams"] == 16
    assert t7["test_sets"] == ["conll14", "bea19_dev"]


def test_tables_4_5_7_share_one_beam16_decoding():
    # The paper prints the same Writing-Alpaca-7B numbers in Tables 4 (55.88/46.35), 5 and 7 (55.9/46.4):
    # one decoding, Table 7's beam 16, for every table; greedy stays a config choice.
    assert CONFIG["decoding"] == "beam16" and CONFIG["decodings"]["beam16"]["num_beams"] == 16
    assert CONFIG["decodings"]["greedy"]["num_beams"] == 1
    assert all("decoding" not in spec for spec in CONFIG["tables"].values())


def test_alpaca_lora_hyper_parameters():
    training = CONFIG["training"]
    assert training["lora"] == {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}
    assert training["learning_rate"]["lora"] == 3e-4
    assert (training["batch_size"], training["micro_batch_size"], training["cutoff_len"]) == (128, 4, 256)
    assert training["train_on_inputs"] is False


def test_writing_mixture_has_every_task_but_paraphrase():
    mix = CONFIG["mixtures"]["writing_alpaca"]
    tasks = {CONFIG["train_sets"][ts]["task"] for ts in mix["writing"]}
    assert tasks == set(PAPER_PROMPTS) - {"paraphrase"}  # paraphrasing is held out
    assert mix["generic"] == "alpaca"
    assert CONFIG["mixtures"]["writing_only"]["generic"] is None
    sizes = {ts: CONFIG["train_sets"][ts]["n"] for ts in mix["writing"]}
    assert sizes["turk_tune"] + sizes["wikilarge"] == 10000
    assert all(sizes[ts] == 10000 for ts in ("wi_locness", "itr_fluency", "itr_clarity", "itr_coherence", "wnc_train"))


# --------------------------------------------------------------------------- training set-up (docs/PAPER.md)
def _workflow(cfg: dict, overlay: dict | None = None) -> dict:
    """The helpers of workflow/rules/common.smk for ``cfg`` (+ ``overlay``, merged as --configfile),
    which validates it on load: the namespace (``training_for``, ...) or a ``WorkflowError``."""
    import copy
    from types import SimpleNamespace

    from snakemake.utils import update_config

    cfg = copy.deepcopy(cfg)
    if overlay:
        update_config(cfg, copy.deepcopy(overlay))
    namespace = {"workflow": SimpleNamespace(basedir=str(REPO)), "config": cfg, "report": lambda path, **_: path}
    source = REPO / "workflow" / "rules" / "common.smk"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    return namespace


def test_table7_llama_gec_is_lora_with_its_own_step_budget():
    # "we have already employed the LoRA technique when training LLaMA-13B-GEC to reduce costs"
    systems, training_for = CONFIG["systems"], _workflow(CONFIG)["training_for"]
    t4 = set(CONFIG["tables"]["table4"]["systems"])
    llms = [s for s in CONFIG["tables"]["table7"]["systems"] if systems[s]["kind"] == "causal_lm"]
    assert llms == ["writing-alpaca-7b", "llama-7b-gec", "llama-13b-gec"]
    assert all(systems[s]["method"] == "lora" for s in llms)
    for name in llms:
        fragment = training_for(name)
        if name in t4:  # "All trained models share the same training steps" (Table 4)
            assert "training" not in systems[name] and fragment["max_steps"] == CONFIG["training"]["max_steps"] == 2625
        else:  # one epoch of cLang-8: ceil(2,372,119 / 128) = 18,533 steps, resolved by the trainer
            assert systems[name]["mixture"] == "clang8" and systems[name]["training"] == {"epochs": 1}
            assert fragment["epochs"] == 1 and "max_steps" not in fragment
    # every other trained LLM shares Table 4's budget
    assert all("training" not in spec for name, spec in systems.items() if name not in llms)
    # 8 GPUs on one node as the paper's 8 x V100 32GB; 13B's frozen fp16 base is sharded by ZeRO-3
    assert systems["llama-7b-gec"]["resources"] == {"gpu": 8} and "deepspeed" not in systems["llama-7b-gec"]
    assert systems["llama-13b-gec"]["resources"] == {"gpu": 8}
    assert systems["llama-13b-gec"]["deepspeed"] == {"stage": 3, "offload": False}


def test_full_fine_tuning_shares_every_setting_but_the_method_specific_ones():
    # "We keep the main hyperparameters of these two training methods consistent to make a fair comparison."
    training_for = _workflow(CONFIG)["training_for"]
    lora, full = training_for("writing-alpaca-7b"), training_for("writing-alpaca-7b-full")
    method_specific = {"learning_rate", "lora", "deepspeed"}
    assert {k for k in lora.keys() | full.keys() if lora.get(k) != full.get(k)} == method_specific
    assert lora["learning_rate"] == {"lora": 3e-4} and full["learning_rate"] == {"full": 2e-5}  # Stanford Alpaca's rate
    assert "lora" not in full and (lora["deepspeed"]["stage"], full["deepspeed"]["stage"]) == (2, 3)
    systems = CONFIG["systems"]
    same = {k: v for k, v in systems["writing-alpaca-7b"].items() if k not in ("label", "method")}
    assert {
        k: v
        for k, v in systems["writing-alpaca-7b-full"].items()
        if k not in ("label", "method", "resources", "deepspeed")
    } == same


def test_precision_is_one_setting_and_bf16_is_renamed():
    from snakemake.exceptions import WorkflowError

    assert CONFIG["training"]["precision"] == "auto" and "bf16" not in CONFIG["training"]
    namespace = _workflow(CONFIG)
    assert namespace["BASELINE_TRAINING_KEYS"] == ("precision", "report_to")  # what the baselines take of training:
    assert namespace["training_for"]("t5-large-gec")["precision"] == "auto"
    with pytest.raises(WorkflowError, match=r"training.bf16: renamed: use precision: auto\|bf16\|fp16\|fp32"):
        _workflow(CONFIG, {"training": {"bf16": True}})
    with pytest.raises(
        WorkflowError, match=r"training.precision: Input should be 'auto', 'bf16', 'fp16' or 'fp32' \(got 'half'\)"
    ):
        _workflow(CONFIG, {"training": {"precision": "half"}})


@pytest.mark.parametrize(
    "budget, message",
    [
        ({"epochs": 0}, r"systems.llama-7b-gec.training.epochs: Input should be greater than 0 \(got 0\)"),
        (
            {"max_steps": 1.5},
            r"systems.llama-7b-gec.training.max_steps: Input should be a valid integer, got a number with a fractional part",
        ),
        ({"steps": 10}, r"systems.llama-7b-gec.training: unknown key 'steps' \(allowed: max_steps, epochs\)"),
        (
            {"max_steps": 10},
            r"systems.llama-7b-gec.training: give exactly one step budget.*\(got both\)",
        ),  # + the paper's epochs: 1
    ],
)
def test_settings_validate_a_systems_step_budget(budget, message):
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match=message):
        _workflow(CONFIG, {"systems": {"llama-7b-gec": {"training": budget}}})


def test_step_budget_is_only_for_trained_llms():
    from snakemake.exceptions import WorkflowError

    with pytest.raises(
        WorkflowError,
        match=r"systems.t5-large-gec.training: a step budget of its own is for trained "
        r"causal_lm systems \(the baselines' is training.baselines.seq2seq.max_steps\)",
    ):
        _workflow(CONFIG, {"systems": {"t5-large-gec": {"training": {"epochs": 1}}}})
    with pytest.raises(WorkflowError, match=r"systems.llama-7b.training: a step budget of its own"):
        _workflow(CONFIG, {"systems": {"llama-7b": {"training": {"max_steps": 5}}}})


def test_demo_llama_gec_takes_the_same_kind_of_budget():
    demo = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())
    namespace = _workflow(CONFIG, demo)
    gec = demo["systems"]["tiny-llama-gec"]
    assert gec["training"] == {"epochs": 10} and gec["mixture"] == "clang8"
    assert "tiny-llama-gec" in demo["tables"]["table7"]["systems"]
    fragment = namespace["training_for"]("tiny-llama-gec")
    assert fragment["epochs"] == 10 and "max_steps" not in fragment
    # it is the demo's one run of the full fine-tuning path
    trained = [s for s in namespace["TRAINED_LM"] if s.startswith("tiny-")]
    assert [s for s in trained if namespace["system"](s)["method"] == "full"] == ["tiny-llama-gec"]
