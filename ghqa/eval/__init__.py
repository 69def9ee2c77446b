"""``ghqa eval``: answer a question set with baselines and strategies, grade, and compare.

- :mod:`.questions` reads and checks a question file; :mod:`.sources` turns its source into a
  repository; :mod:`.runner` answers (:mod:`.baselines` or the engine) and grades
  (:mod:`.grade`) every question, keeping results in :mod:`.results`; :mod:`.summary`,
  :mod:`.table` and :mod:`.report` present them; :mod:`.command` is the click command.

Nothing heavy is imported here, so the command line starts fast."""
