"""``writing-alpaca edit``: use a trained (or base) model as a writing assistant.

    writing-alpaca edit --task grammar --model results/models/writing-alpaca --text "She go to school."
    cat draft.txt | writing-alpaca edit --task grammar --model results/models/writing-alpaca

With ``--text`` the edited text is printed; otherwise standard input is edited line by line,
one output line per input line, in order.  Lines are read and generated in batches of
``--batch-size`` (the output is flushed after each batch); when standard input is a terminal,
each line is edited (and printed) as soon as it is typed.  A blank input (``--text ""`` or a
blank line) gives a blank output without asking the model.  Input must be UTF-8: anything else
is one error naming the line.  Libraries' progress bars and deprecation chatter are silenced, so
a successful run writes nothing to standard error.

``--model`` is any trained system (its ``system.json`` says which kind, :mod:`writing_alpaca.systems`)
or a bare causal-LM base model:

* a causal LM (``causal_lm``) is prompted exactly as it was trained: the task's prompt and the
  template recorded in its ``system.json``.  A bare base model (no ``system.json``) gets
  ``writing_alpaca.format.PROMPTS`` and ``writing_alpaca.format.TEMPLATE``.
* a Table-7 baseline (``seq2seq``: T5, ``gector``: GECToR) is loaded once and corrects each batch
  through the code path of ``baselines decode`` (``Corrector.correct_texts`` of
  :mod:`writing_alpaca.baselines.seq2seq` / :mod:`writing_alpaca.baselines.gector`), so a line
  gets exactly the output a test record with that source and task ``grammar`` gets there.  The
  baselines are grammatical error correctors trained on cLang-8 grammar pairs only
  (``mixture: clang8``; GECToR has no task input at all, T5's ``source_prefix`` is empty in the
  paper's configuration): ``--task`` must be ``grammar`` (anything else is one error, before the
  model is loaded).  ``--num-beams`` and ``--max-new-tokens`` apply to T5; GECToR tags tokens and
  ignores them (its iterations and thresholds are those recorded at training time).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
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


#: the only task of the Table-7 baselines (grammatical error correctors trained on cLang-8)
BASELINE_TASK = "grammar"


def system_kind(model_dir: str | Path) -> str | None:
    """The kind of a trained system (``causal_lm``, ``seq2seq``, ``gector``; its ``system.json``
    checked), ``None`` for a bare base model."""
    from .systems import is_system_dir, read_system

    return read_system(model_dir).kind if is_system_dir(model_dir) else None


def check_baseline_task(kind: str, task: str) -> str:
    """``task`` if a ``kind`` baseline can do it (only :data:`BASELINE_TASK`), else one error."""
    if task != BASELINE_TASK:
        raise WritingAlpacaError(
            f"--task {task}: a {kind} system is a Table-7 grammatical error correction baseline, trained on "
            f"cLang-8 grammar pairs only: use --task {BASELINE_TASK} (or a Writing-Alpaca system for {task})"
        )
    return task


class Editor:
    """A loaded causal LM plus its prompt: ``editor.edit(["text", ...])`` -> edited texts
    (:func:`open_editor` picks this or :class:`BaselineEditor` by the system's kind)."""

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
        self.batch_size = batch_size

    def _generate(self, texts: list[str]) -> list[str]:
        """The model's edits of (non-blank) ``texts``, in order."""
        from .decode import build_prompts, generate_hf

        prompts = build_prompts(self.template, self.instruction, texts)
        outputs, _ = generate_hf(self.lm, prompts, texts, self.spec, progress=False)
        return outputs

    def edit(self, texts: Iterable[str]) -> list[str]:
        """The edited texts, in order; a blank text gives ``""`` (the model is not asked)."""
        texts = list(texts)
        edited = [""] * len(texts)
        asked = [i for i, text in enumerate(texts) if text.strip()]
        if not asked:
            return edited
        outputs = self._generate([texts[i] for i in asked])
        for i, output in zip(asked, outputs, strict=True):
            edited[i] = output
        return edited

    def edit_batches(self, lines: Iterable[str], batch_size: int | None = None) -> Iterator[list[str]]:
        """The edited lines, one list per batch of ``batch_size`` input lines (default: the
        decoding batch size); each line's end (LF or CRLF) is dropped.  An error while reading
        (a line that is not text) comes after the edits of the lines read before it."""
        size = max(1, batch_size or self.batch_size)
        batch: list[str] = []
        try:
            for line in lines:
                batch.append(line.rstrip("\r\n"))
                if len(batch) >= size:
                    yield self.edit(batch)
                    batch = []
        except WritingAlpacaError:
            if batch:
                yield self.edit(batch)
            raise
        if batch:
            yield self.edit(batch)

    def edit_stream(self, lines: Iterable[str], batch_size: int | None = None) -> Iterator[str]:
        """One edited line per input line (blank lines stay blank), in order."""
        for edited in self.edit_batches(lines, batch_size):
            yield from edited


class BaselineEditor(Editor):
    """A trained Table-7 baseline (T5 seq2seq or GECToR), loaded once; :meth:`edit` corrects
    through its ``Corrector.correct_texts``, the code path of ``baselines decode``
    (``num_beams``/``max_new_tokens``: T5 only; GECToR ignores them)."""

    def __init__(
        self,
        model_dir: str | Path,
        task: str = BASELINE_TASK,
        num_beams: int = 1,
        max_new_tokens: int = 256,
        batch_size: int = 8,
    ):
        from .systems import BASELINE_KINDS, read_system

        self.kind = read_system(model_dir, kinds=BASELINE_KINDS).kind
        self.task = check_baseline_task(self.kind, task)
        self.batch_size = batch_size
        if self.kind == "seq2seq":
            from .baselines.seq2seq import Corrector

            self.corrector = Corrector(
                model_dir, num_beams=num_beams, batch_size=batch_size, max_new_tokens=max_new_tokens
            )
        else:
            from .baselines.gector import Corrector as GectorCorrector

            self.corrector = GectorCorrector(model_dir, batch_size=batch_size)

    def _generate(self, texts: list[str]) -> list[str]:
        return self.corrector.correct_texts(texts, self.task, progress=False)


def open_editor(
    model_dir: str | Path, task: str, num_beams: int = 1, max_new_tokens: int = 256, batch_size: int = 8
) -> Editor:
    """The editor of ``model_dir`` for ``task``, by the kind its ``system.json`` records: a
    :class:`BaselineEditor` for ``seq2seq``/``gector``, else an :class:`Editor` prompted as
    :func:`prompting` says (a bare base model included).  Task errors come before any loading."""
    from .systems import BASELINE_KINDS

    kind = system_kind(model_dir)
    if kind in BASELINE_KINDS:
        check_baseline_task(kind, task)
        return BaselineEditor(
            model_dir, task, num_beams=num_beams, max_new_tokens=max_new_tokens, batch_size=batch_size
        )
    instruction, template = prompting(model_dir, task)
    return Editor(
        model_dir, instruction, template, num_beams=num_beams, max_new_tokens=max_new_tokens, batch_size=batch_size
    )


#: where the input lines come from, in error messages
STDIN = "stdin"


def _not_text(lineno: int, where: str, utf16: bool = False) -> WritingAlpacaError:
    hint = "; it looks like UTF-16: convert it first (iconv -f UTF-16 -t UTF-8)" if utf16 else ""
    return WritingAlpacaError(f"{STDIN} line {lineno}: not UTF-8 text ({where}){hint}")


def _text(lineno: int, line: str) -> str:
    return line[1:] if lineno == 1 and line.startswith("\ufeff") else line  # a UTF-8 byte-order mark


def text_lines(stream: TextIO) -> Iterator[str]:
    """The lines of ``stream`` as text, checked to be UTF-8 (one error naming the first line that is
    not).  The bytes under a text stream are read where there are any (``sys.stdin.buffer``): a
    text stream may decode with ``surrogateescape`` (a POSIX locale) and smuggle undecodable bytes
    through as lone surrogates, which the tokenizer then rejects with an obscure error."""
    binary = getattr(stream, "buffer", None)
    if binary is not None:
        for lineno, raw in enumerate(iter(binary.readline, b""), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                utf16 = lineno == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")
                raise _not_text(lineno, f"{exc.reason} at byte {exc.start + 1} of the line", utf16) from None
            yield _text(lineno, line)
        return
    for lineno, line in enumerate(iter(stream.readline, ""), start=1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates: bytes that were not UTF-8
            raise _not_text(lineno, f"undecodable byte at character {exc.start + 1} of the line") from None
        yield _text(lineno, line)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


#: library warnings that say nothing to a user of ``edit`` (transformers' own deprecations, hit by peft)
QUIET_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence transformers' progress bars and info/warning logs and the library deprecation
    warnings of :data:`QUIET_WARNINGS` while ``edit`` runs (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            for message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """The ``edit`` command (``stdin``/``stdout`` default to the process's streams)."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    batch_size = getattr(args, "batch_size", 8)
    if batch_size < 1:
        raise WritingAlpacaError(f"--batch-size: must be at least 1, got {batch_size}")
    with quiet_libraries():
        editor = open_editor(
            args.model, args.task, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens, batch_size=batch_size
        )
        if args.text is not None:
            print(editor.edit([args.text])[0], file=stdout)
            return 0
        lines = text_lines(stdin)
        for edited in editor.edit_batches(lines, 1 if _is_terminal(stdin) else batch_size):
            for line in edited:
                print(line, file=stdout)
            stdout.flush()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("edit", help="edit text with a trained model (one line in, one line out)")
    parser.add_argument(
        "--task",
        default="grammar",
        help="writing task (grammar, fluency, clarity, ...); the T5 and GECToR baselines: grammar only",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="trained system dir of any kind (results/models/<system>: causal_lm, seq2seq, gector) "
        "or causal-LM base model dir",
    )
    parser.add_argument("--text", help="text to edit (default: read standard input line by line)")
    parser.add_argument("--num-beams", type=int, default=1, help="beam size (causal LMs and T5; GECToR ignores it)")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=256,
        help="generated tokens per line at most (causal LMs and T5; GECToR ignores it)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="lines of standard input generated together (1 when it is a terminal)",
    )
    parser.set_defaults(func=run)
