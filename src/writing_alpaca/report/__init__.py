"""Render the paper's tables and figures from the workflow's results (``writing-alpaca render``).

Sub-commands (one per artefact; DESIGN.md "CLI contract")::

    writing-alpaca render ARTEFACT --spec JSON [--systems JSON] [--test-sets JSON] [--tasks JSON]
                                   --KIND FILE ... [--KIND FILE ...] --out-prefix PREFIX

with ARTEFACT one of ``table2 table3 table4 table5 table6 table7 table8 figure1 cost_quality``
and ``table4_vs_paper table5_vs_paper table7_vs_paper``, and ``costs`` (:mod:`writing_alpaca.costs`:
the run's wall time, CPU time and peak memory from Snakemake's benchmark files; no ``--spec``), and
``training`` (one system's loss and learning rate against the step from its TensorBoard event
files, ``results/logs/<system>/``; no ``--spec``).
``--spec`` is the artefact's ``tables.<name>`` config entry (cost_quality uses table7's;
table8 figure1's with table8's ``examples`` and the config's ``seed``; table6 its own with
the ``seed``; table3's with the ``train_sets`` of its mixture, titles and sources);
``--systems``, ``--test-sets``, ``--tasks`` are those config blocks (labels, titles, Table 2's
``dataset``/``abbrev``, tasks, metrics); table3 also takes ``--train-sets`` (dataset titles,
upstream sources; the spec's ``train_sets`` otherwise), table7 ``--decodings``
(beam/batch when the decode metrics lack them).

The input files come by kind, one option per kind (:data:`.cli.INPUT_KINDS`):

=================  ==========================================================  =====================
artefact           options (* = optional)                                      file kinds
=================  ==========================================================  =====================
table2             ``--data``                                                  test data
table3             ``--instructions`` and/or ``--counts`` (the counts win)     the mixture
table4             ``--scores``, ``--bootstrap``\\*                             scores, significance
table5             ``--scores``, ``--published``\\* (default: spec's)           scores, published rows
table7             ``--scores``, ``--decode-metrics``, ``--train-metrics``     scores and costs
cost_quality       as table7                                                   scores and costs
figure1, table8    ``--edits``                                                 edit analyses
table6             ``--data``, ``--outputs``, ``--free-outputs``\\*             test data, outputs
table4/5_vs_paper  ``--scores``, ``--paper``                                   scores, paper's numbers
table7_vs_paper    as table7, and ``--paper``                                  scores, costs, paper's
costs              ``--benchmarks``                                            benchmark files
training           ``--logs``, ``--train-metrics``\\* (and ``--system NAME``)   TensorBoard logs
=================  ==========================================================  =====================

An option of a kind the artefact does not take, a required one left out or a file that does
not exist is one error naming the option (and the file).  Which run a file belongs to is read
from its content where it records it, else from its path by the workflow's layout
(:func:`.inputs.path_fields`, the one path parser).

Modules: :mod:`.inputs` (reading the inputs, the config context), :mod:`.writers` (the table
model; Markdown, LaTeX, CSV, figure files), :mod:`.tables` (Tables 2-5 and 7), :mod:`.figures`
(Figure 1, cost vs quality), :mod:`.cases` (the case studies, Tables 6 and 8), :mod:`.cli`
(the sub-commands).  The vs-paper tables are :mod:`writing_alpaca.paper`, the costs table
:mod:`writing_alpaca.costs`.

Outputs: tables ``P.md`` (caption line + Markdown table), ``P.tex`` (booktabs),
``P.csv`` (the raw numbers); figures ``P.png``, ``P.pdf`` and ``P.csv`` (+ ``P.md``/``P.tex``
for figure1's entity table).  Every file is written atomically.  Table numbers have two
decimals, as in the paper; the CSV files keep four.
"""

from .cli import register

__all__ = ["register"]
