"""The survey engine (满意度调查): definitions, versions, rounds, answering, results.

Modules, from the file format inwards:
- `definition`: the JSON format of docs/surveys.md, parsed into frozen objects; errors name
  the JSON path. `answers`: one answer checked against its question, show_if, required.
- `catalog`: surveys and their versions (import, export, drafts, publish, copy, archive).
- `schedule`: when recurring rounds open (monthly, quarterly, cron). `rounds`: opening,
  closing, planning, invitations and the reminder (through the core's outbox).
- `responses`: answering a round, one answer at a time (chat) or one form (web), and the
  submit; complaint-enabled free text filed through the core's file_ticket on opt-in.
- `counts`, `stats`, `results`: per-question figures, the comparison of rounds, department
  scores. `export`: CSV and XLSX. `worker`: what the scheduler runs.

Service functions take a session and a ServiceContext, flush, and leave the commit to the
caller, as the core's do; adapters get plain views (RoundView, ResponseView).
"""
