"""``writing-alpaca decode``: run a causal-LM system over a test set.

Each test record's ``source`` is put into the Alpaca template with the task prompt as
instruction; the model continues after ``### Response:``.  A trained system brings both in its
``system.json`` (``--task NAME`` picks the prompt); an untrained base model is given
``--template`` and ``--task-prompt`` (precedence: :mod:`writing_alpaca.systems`).  A record
with its own ``instruction`` (Table 6's free instructions, ``writing-alpaca data free``) is
asked that, with its ``input`` (the template's ``prompt_no_input`` when the input is empty or
absent, as alpaca-lora's ``Prompter``); ``--task-prompt`` is then not needed.

Hugging Face backend (default, ``backend: hf``):

- batches of ``batch_size`` prompts, sorted by length (longest first) so that little
  padding is wasted, padded on the **left**; outputs are put back in the input order;
- greedy (``num_beams: 1``) or beam search (``num_beams > 1``), with the KV cache;
- new tokens per record: ``min(max_new_tokens, 2 * n + 16)`` where ``n`` is the token
  count of the record's *source* text (an edit is about as long as its input; the bound
  stops a degenerate model from running on for ``max_new_tokens``); a record without
  input (a free instruction) gets ``max_new_tokens``.  A batch generates up
  to its largest budget and every row is then cut to its own, so an output does not
  depend on which records share its batch (nor on the backend);
- generation stops at EOS or once a generated token completes ``###`` (the start of a new
  template section; transformers' ``stop_strings``, checked per row and, in beam search,
  per candidate, so each beam finishes where its text reaches ``###``); the text is cut at
  ``###``, stripped of the
  prompt (only generated tokens are decoded) and collapsed to one line.

Exactly one output line is written per input record, empty generations included.

``backend: vllm`` (optional, for GPU clusters; vllm is imported only when chosen): the
same prompts go to ``vllm.LLM`` (bf16, or fp16 on a GPU without native bf16, as the HF
backend) with one ``SamplingParams(temperature=0, max_tokens=<the record's budget>,
stop=["###"])`` per record (greedy only), so both backends ask for the same continuation
of the same prompt.  A LoRA system is served through vLLM's ``LoRARequest`` (``max_lora_rank`` from
the adapter's ``r``); adapters that also train modules other than the attention/MLP
projections (``lm_head``, ``embed_tokens``, ``modules_to_save``) are refused with the
way out (``backend: hf``, or ``writing-alpaca merge`` and decode the merged model).
The test suite checks this request contract against a recording stand-in for vLLM;
outputs of a real vLLM engine against HF greedy are **not verified here** (no GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WritingAlpacaError, located
from .io import parse_json_arg, read_json, read_jsonl, write_json, write_lines
from .progress import Progress
from .settings import Decoding
from .systems import (
    CAUSAL_LM,
    hardware_description,
    prompt_template,
    read_system,
    resolve_model_dirs,
    task_instruction,
)

log = logging.getLogger(__name__)

#: where generation stops (transformers' ``stop_strings``, :class:`~transformers.StopStringCriteria`)
#: and where each output is cut (:func:`one_line`).
STOP = "###"
_WS = re.compile(r"\s+")


#: One entry of config ``decodings:`` (writing_alpaca.settings.Decoding, the one definition that
#: the Snakefile validated): ``DecodingSpec.from_dict(data)`` parses the rule's ``--decoding``.
DecodingSpec = Decoding


@dataclass
class LoadedLM:
    """A causal LM ready for generation."""

    model: Any
    tokenizer: Any
    device: str
    weights_dir: Path  # the merged/full weights dir, or the base dir (for vllm)
    adapter_dir: Path | None = None


def one_line(text: str) -> str:
    """Cut at the stop string and collapse all whitespace (newlines included) to single spaces."""
    return _WS.sub(" ", text.split(STOP, 1)[0]).strip()


def new_token_budget(max_new_tokens: int, source_tokens: int) -> int:
    """``min(max_new_tokens, 2 * source_tokens + 16)``."""
    return min(max_new_tokens, 2 * source_tokens + 16)


def token_budgets(tokenizer: Any, sources: Sequence[str | None], max_new_tokens: int) -> list[int]:
    """Each record's new-token budget (:func:`new_token_budget` of its source's token count;
    ``max_new_tokens`` for a record without input, ``None``: an answer is not an edit of anything)."""
    texts = [s for s in sources if s is not None]
    counts = iter([len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else [])
    return [max_new_tokens if s is None else new_token_budget(max_new_tokens, next(counts)) for s in sources]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches, longest first (ties keep input order)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def load_lm(system_dir: str | Path | None = None, base: str | Path | None = None, precision: str = "auto") -> LoadedLM:
    """Load a causal LM for generation (LoRA adapters are merged for speed) in ``precision``
    (``decoding.precision``: auto = bf16 on a GPU with native bf16, fp16 on an older one, fp32 on CPU)."""
    import torch

    from .training.modelling import choose_precision, load_base_model, load_tokenizer

    weights, adapter, tok_dir = resolve_model_dirs(system_dir, base)
    cuda = torch.cuda.is_available()
    precision = choose_precision(precision, cuda, what="decoding.precision")
    tokenizer = load_tokenizer(tok_dir, padding_side="left")
    with _unreadable_weights(weights, trained=_inside(weights, system_dir)):
        model = load_base_model(weights, precision)
    if adapter is not None:
        from peft import PeftModel

        with _unreadable_weights(adapter, trained=True):
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    device = "cuda" if cuda else "cpu"
    model.to(device).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedLM(model, tokenizer, device, weights, adapter)


def _inside(path: Path, system_dir: str | Path | None) -> bool:
    """Whether ``path`` belongs to the trained system ``system_dir`` (else: a base model)."""
    if system_dir is None:
        return False
    return Path(path).resolve().is_relative_to(Path(system_dir).resolve())


def _broken_safetensors(directory: Path) -> tuple[Path, str] | None:
    """The first ``*.safetensors`` file in ``directory`` whose header or length is bad, with why."""
    from safetensors import SafetensorError, safe_open

    for file in sorted(Path(directory).glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            return file, str(exc)
    return None


@contextlib.contextmanager
def _unreadable_weights(directory: Path, trained: bool) -> Iterator[None]:
    """Turn a truncated or corrupt ``*.safetensors`` file met while loading ``directory`` into one
    error that names the file and the way out (retrain a system's weights, re-download a base's)."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as exc:
        found = _broken_safetensors(directory)
        file, why = found if found is not None else (directory, str(exc))
        if trained:
            fix = "retrain the system (delete its directory and rerun its train rule) or download it again"
        else:
            fix = "download (or build) the base model again: delete its directory and rerun the rule that made it"
        raise WritingAlpacaError(f"{file}: unreadable weights, truncated or corrupt ({why}): {fix}") from exc


@dataclass
class GenerationStats:
    instances: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


def generate_hf(
    lm: LoadedLM,
    prompts: Sequence[str],
    sources: Sequence[str | None],
    spec: DecodingSpec,
    *,
    stage: str = "decode",
    progress: bool = True,
) -> tuple[list[str], GenerationStats]:
    """Generate one cleaned single-line output per prompt, in input order (``progress``: report
    the batches done as ``stage``, :class:`writing_alpaca.progress.Progress`)."""
    import torch

    tok = lm.tokenizer
    prompt_lengths = [len(ids) for ids in tok(list(prompts))["input_ids"]]
    budgets = token_budgets(tok, sources, spec.max_new_tokens)
    outputs: list[str] = [""] * len(prompts)
    stats = GenerationStats(instances=len(prompts))
    start = time.perf_counter()
    # longest prompts first: the rate rises and the ETA shrinks as the batches get shorter
    reporter = Progress(stage, len(prompts), unit="instances", log=log, enabled=progress, announce=False)
    for batch in length_sorted_batches(prompt_lengths, spec.batch_size):
        enc = tok([prompts[i] for i in batch], return_tensors="pt", padding=True).to(lm.device)
        prompt_len = enc["input_ids"].shape[1]
        beam_args = {"num_beams": spec.num_beams, "early_stopping": True} if spec.num_beams > 1 else {}
        with torch.inference_mode():
            out = lm.model.generate(
                **enc,
                **beam_args,
                max_new_tokens=max(budgets[i] for i in batch),
                do_sample=False,
                use_cache=True,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                # a row (a beam candidate) stops once a generated token completes the stop
                # string; the text is then cut there by one_line()
                stop_strings=[STOP],
                tokenizer=tok,
            )
        generated = out[:, prompt_len:]
        for row, index in zip(generated.tolist(), batch):
            row = row[: budgets[index]]  # the record's own budget, whatever its batch allowed
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id)]
            while row and row[-1] == tok.pad_token_id:  # rows finished early (stop string) are padded
                row.pop()
            stats.generated_tokens += len(row)
            outputs[index] = one_line(tok.decode(row, skip_special_tokens=True))
        reporter.update(len(batch))
    reporter.close()
    stats.seconds = time.perf_counter() - start
    return outputs, stats


#: LoRA target modules vLLM applies adapters to in LLaMA-style models.
VLLM_LORA_MODULES = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
#: ranks vLLM accepts for ``max_lora_rank``.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256)


def vllm_lora_rank(adapter_dir: Path) -> int:
    """``max_lora_rank`` for serving ``adapter_dir`` with vLLM; refuses adapters vLLM cannot serve."""
    config_path = adapter_dir / "adapter_config.json"
    config = read_json(config_path)
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # a regular expression: vLLM cannot tell which modules it names
        targets = [targets]
    unsupported = sorted({*targets, *(config.get("modules_to_save") or [])} - VLLM_LORA_MODULES)
    if unsupported:
        raise WritingAlpacaError(
            f"{config_path}: the adapter trains {', '.join(unsupported)}; the vllm backend serves LoRA on "
            f"{', '.join(sorted(VLLM_LORA_MODULES))} only: decode with backend: hf, or merge the adapter "
            "(writing-alpaca merge) and decode the merged model"
        )
    rank = config.get("r")
    if not isinstance(rank, int) or rank < 1:
        raise WritingAlpacaError(f"{config_path}: 'r' must be a positive integer, got {rank!r}")
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise WritingAlpacaError(f"{config_path}: LoRA rank {rank} exceeds vLLM's largest ({VLLM_LORA_RANKS[-1]})")


def generate_vllm(
    weights_dir: Path,
    adapter_dir: Path | None,
    tokenizer_dir: Path,
    prompts: Sequence[str],
    sources: Sequence[str | None],
    spec: DecodingSpec,
) -> tuple[list[str], GenerationStats]:
    """The optional vLLM backend (greedy only): the same prompts and per-record budgets as :func:`generate_hf`."""
    from .training.modelling import load_tokenizer

    try:
        from vllm import LLM, SamplingParams  # type: ignore[import-not-found]
    except ImportError:
        raise WritingAlpacaError(
            "decoding backend 'vllm' chosen but vllm is not installed (pip install vllm)"
        ) from None
    # num_beams is 1: settings.Decoding refuses backend vllm with beams
    budgets = token_budgets(load_tokenizer(tokenizer_dir), sources, spec.max_new_tokens)
    dtype = vllm_dtype(spec.precision)
    engine_args: dict[str, Any] = {
        "model": str(weights_dir),
        "tokenizer": str(tokenizer_dir),
        "dtype": dtype,
        "seed": 0,
    }
    lora = None
    if adapter_dir is not None:
        from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]

        engine_args.update(enable_lora=True, max_loras=1, max_lora_rank=vllm_lora_rank(adapter_dir))
        lora = LoRARequest("adapter", 1, str(adapter_dir))
    llm = LLM(**engine_args)
    params = [SamplingParams(temperature=0.0, max_tokens=budget, stop=[STOP]) for budget in budgets]
    # one call (vLLM schedules the records itself): no progress until it returns
    log.info("decode: %d prompts to vLLM in one call", len(prompts))
    start = time.perf_counter()
    results = llm.generate(list(prompts), params, lora_request=lora, use_tqdm=False)
    stats = GenerationStats(instances=len(prompts), seconds=time.perf_counter() - start)
    outputs = []
    for result in results:
        stats.generated_tokens += len(result.outputs[0].token_ids)
        outputs.append(one_line(result.outputs[0].text))
    return outputs, stats


#: vLLM's names of the precisions
VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def vllm_dtype(precision: str) -> str:
    """vLLM's ``dtype`` for ``decoding.precision``, resolved on a GPU as for the HF backend (auto:
    bf16 where native, else fp16); without CUDA (vLLM's CPU backend) ``auto`` is left to vLLM."""
    import torch

    from .training.modelling import choose_precision

    if not torch.cuda.is_available():
        return "auto" if precision == "auto" else VLLM_DTYPES[precision]
    return VLLM_DTYPES[choose_precision(precision, True, what="decoding.precision")]


def build_prompts(template: Mapping[str, str], task_prompt: str, sources: Sequence[str]) -> list[str]:
    from .format import render_prompt
    from .training.config import Template

    tmpl = Template.from_dict(template).as_dict()  # checked
    return [render_prompt(task_prompt, source, template=tmpl) for source in sources]


def read_requests(path: str | Path, task_prompt: str | None) -> tuple[list[str], list[str | None]]:
    """``(instructions, inputs)`` of every record: a test record is asked ``task_prompt`` about its
    ``source``; a record with its own ``instruction`` is asked that about its ``input`` (``None``
    when empty or absent: the template's ``prompt_no_input``)."""
    instructions: list[str] = []
    inputs: list[str | None] = []
    for lineno, record in enumerate(read_jsonl(path), start=1):
        if "instruction" in record:
            instruction, text = record["instruction"], record.get("input", "")
            if not isinstance(instruction, str) or not instruction.strip():
                raise located(path, lineno, "record's 'instruction' must be a non-empty string")
            if not isinstance(text, str):
                raise located(path, lineno, "record's 'input' must be a string")
            instructions.append(instruction)
            inputs.append(text or None)
            continue
        source = record.get("source")
        if not isinstance(source, str):
            raise located(path, lineno, "test record lacks a string 'source' (or its own 'instruction')")
        if task_prompt is None:
            raise located(
                path, lineno, "test record without its own 'instruction' and no --task-prompt (or --task) given"
            )
        instructions.append(task_prompt)
        inputs.append(source)
    return instructions, inputs


def decode(
    data: str | Path,
    task_prompt: str | None,
    template: Mapping[str, str] | None,
    decoding: Mapping[str, Any],
    out: str | Path,
    metrics_out: str | Path,
    system_dir: str | Path | None = None,
    base: str | Path | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """Decode every test record; write ``out`` (one line each) and the throughput metrics.

    A trained system (``system_dir``) is prompted with the template its ``system.json`` records
    (``template``, if given, must equal it) and ``task`` picks its recorded task prompt; a base
    model needs ``template`` and ``task_prompt`` (see :mod:`writing_alpaca.systems`).
    """
    from .format import render_prompt
    from .training.config import Template

    spec = DecodingSpec.from_dict(decoding)
    info = read_system(system_dir, kinds=(CAUSAL_LM,)) if system_dir is not None else None
    template = prompt_template(info, template)
    task_prompt = task_instruction(info, task, task_prompt)
    instructions, sources = read_requests(data, task_prompt)
    tmpl = Template.from_dict(template).as_dict()  # checked
    prompts = [render_prompt(i, s or "", template=tmpl) for i, s in zip(instructions, sources, strict=True)]
    if spec.backend == "vllm":
        weights, adapter, tokenizer_dir = resolve_model_dirs(system_dir, base)
        outputs, stats = generate_vllm(weights, adapter, tokenizer_dir, prompts, sources, spec)
        device = "cuda"
    else:
        lm = load_lm(system_dir, base, spec.precision)
        log.info(
            "decode: %d records of %s, batch_size %d, num_beams %d on %s",
            len(prompts),
            data,
            spec.batch_size,
            spec.num_beams,
            lm.device,
        )
        outputs, stats = generate_hf(lm, prompts, sources, spec)
        device = lm.device
    if len(outputs) != len(sources):  # a hard invariant: scoring aligns lines with records
        raise AssertionError(f"{len(outputs)} outputs for {len(sources)} records")
    seconds = max(stats.seconds, 1e-9)
    metrics = {
        "instances": stats.instances,
        "seconds": round(stats.seconds, 3),
        "instances_per_second": round(stats.instances / seconds, 3),
        "generated_tokens": stats.generated_tokens,
        "tokens_per_second": round(stats.generated_tokens / seconds, 3),
        "batch_size": spec.batch_size,
        "num_beams": spec.num_beams,
        "max_new_tokens": spec.max_new_tokens,
        "backend": spec.backend,
        "device": device,
        "hardware": hardware_description(),
    }
    write_lines(out, outputs)
    write_json(metrics_out, metrics)
    log.info(
        "decoded %d records in %.1f s (%.2f instances/s, %.1f tokens/s) -> %s",
        stats.instances,
        stats.seconds,
        metrics["instances_per_second"],
        metrics["tokens_per_second"],
        out,
    )
    return metrics


def _cmd_decode(args: argparse.Namespace) -> int:
    decode(
        data=args.data,
        task_prompt=args.task_prompt,
        template=None if args.template is None else parse_json_arg(args.template, "--template"),
        decoding=parse_json_arg(args.decoding, "--decoding"),
        out=args.out,
        metrics_out=args.metrics,
        system_dir=args.system_dir,
        base=args.base,
        task=args.task,
    )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("decode", help="generate outputs of a causal-LM system for a test set")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--system-dir", help="trained system directory (with system.json)")
    which.add_argument("--base", help="base model directory (method: none)")
    parser.add_argument("--data", required=True, help="normalised test records (JSONL)")
    instruction = parser.add_mutually_exclusive_group()
    instruction.add_argument(
        "--task",
        default=None,
        help="a task whose prompt the trained system recorded in its system.json (--system-dir only)",
    )
    instruction.add_argument(
        "--task-prompt",
        default=None,
        help="the task's instruction (config tasks.<task>.prompt); not needed when every record has its own "
        "'instruction', nor with --task",
    )
    parser.add_argument(
        "--template",
        default=None,
        help="JSON: the Alpaca template; required with --base; with --system-dir the one in system.json is used "
        "(a --template given must equal it)",
    )
    parser.add_argument("--decoding", required=True, help="JSON: {num_beams, batch_size, max_new_tokens, backend}")
    parser.add_argument("--out", required=True, help="output text file (one line per record)")
    parser.add_argument("--metrics", required=True, help="throughput metrics JSON")
    parser.set_defaults(func=_cmd_decode)
