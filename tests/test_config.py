"""The paper configuration says what the paper says (prompts, template, systems, data sizes)."""

from __future__ import annotations

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


def test_table4_and_table7_systems():
    systems = CONFIG["systems"]
    t4 = [systems[s]["label"] for s in CONFIG["tables"]["table4"]["systems"]]
    assert t4 == [
        "LLaMA-7B", "Alpaca-7B", "Alpaca-13B", "Alpaca-7B (GPT-4 data)", "Writing-Alpaca-7B",
        "Writing-Alpaca-7B w/o generic", "Writing-Alpaca-7B (full FT)",
    ]
    t7 = CONFIG["tables"]["table7"]
    assert [systems[s]["kind"] for s in t7["systems"]] == ["gector", "seq2seq", "causal_lm", "causal_lm", "causal_lm"]
    assert CONFIG["decodings"][t7["decoding"]]["num_beams"] == 16
    assert t7["test_sets"] == ["conll14", "bea19_dev"]


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
