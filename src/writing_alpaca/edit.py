"""``writing-alpaca edit``: use a trained (or base) model as a writing assistant.

    writing-alpaca edit --task grammar --model results/models/writing-alpaca --text "She go to school."
    cat draft.txt | writing-alpaca edit --task grammar --model results/models/writing-alpaca

With ``--text`` the edited text is printed; otherwise every line of standard input is
edited as it arrives and one edited line is written (and flushed) per input line.
A trained system is prompted exactly as it was trained: the task's prompt and the template
recorded in its ``system.json`` (:mod:`writing_alpaca.systems`).  A bare base model (no
``system.json``) gets ``writing_alpaca.format.PROMPTS`` and ``writing_alpaca.format.TEMPLATE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from .errors import WritingAlpacaError


def task_prompt(task: str, prompts: Mapping[str, str] | None = None) -> str:
    """The instruction of ``task`` (from ``format.PROMPTS`` unless ``prompts`` is given)."""
    if prompts is None:
        from .format import PROMPTS as prompts  # type: ignore[no-redef]
    if task not in prompts:
        raise WritingAlpacaError(f"--task: unknown task {task!r} (one of {', '.join(sorted(prompts))})")
    return prompts[task]


def default_template() -> Mapping[str, str]:
    from .format import TEMPLATE

    return TEMPLATE


def prompting(model_dir: str | Path, task: str) -> tuple[str, Mapping[str, str]]:
    """``(instruction, template)`` for ``task``: those a trained system recorded in its
    ``system.json``, or ``format``'s for a bare base model."""
    from .systems import CAUSAL_LM, is_system_dir, prompt_template, read_system

    if is_system_dir(model_dir):
        info = read_system(model_dir, kinds=(CAUSAL_LM,))
        return info.prompt(task), prompt_template(info)
    return task_prompt(task), default_template()


class Editor:
    """A loaded model plus its prompt: ``editor.edit(["text", ...])`` -> edited texts."""

    def __init__(
        self,
        model_dir: str | Path,
        instruction: str,
        template: Mapping[str, str],
        num_beams: int = 1,
        max_new_tokens: int = 256,
        batch_size: int = 8,
    ):
        from .decode import DecodingSpec, load_lm
        from .systems import is_system_dir

        model_dir = Path(model_dir)
        if is_system_dir(model_dir):
            self.lm = load_lm(system_dir=model_dir)
        else:
            self.lm = load_lm(base=model_dir)
        self.instruction = instruction
        self.template = template
        self.spec = DecodingSpec(num_beams=num_beams, batch_size=batch_size, max_new_tokens=max_new_tokens)

    def edit(self, texts: Iterable[str]) -> list[str]:
        from .decode import build_prompts, generate_hf

        texts = list(texts)
        if not texts:
            return []
        prompts = build_prompts(self.template, self.instruction, texts)
        outputs, _ = generate_hf(self.lm, prompts, texts, self.spec, progress=False)  # interactive
        return outputs

    def edit_stream(self, lines: Iterable[str]) -> Iterator[str]:
        """One edited line per input line (blank lines stay blank), in order."""
        for line in lines:
            text = line.rstrip("\r\n")
            yield self.edit([text])[0] if text.strip() else ""


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """The ``edit`` command (``stdin``/``stdout`` default to the process's streams)."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    instruction, template = prompting(args.model, args.task)
    editor = Editor(
        args.model,
        instruction,
        template,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
    )
    if args.text is not None:
        print(editor.edit([args.text])[0], file=stdout)
        return 0
    for edited in editor.edit_stream(stdin):
        print(edited, file=stdout, flush=True)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("edit", help="edit text with a trained model (one line in, one line out)")
    parser.add_argument("--task", default="grammar", help="writing task (grammar, fluency, clarity, ...)")
    parser.add_argument("--model", required=True, help="trained system dir (results/models/<system>) or base model dir")
    parser.add_argument("--text", help="text to edit (default: read standard input line by line)")
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.set_defaults(func=run)
