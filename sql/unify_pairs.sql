-- Unified pairs: every converted record joined back to its raw record for provenance.
SELECT
    c.pair_id,
    r.source,
    c.messages,
    c.system,
    c.instruction,
    c.input,
    c.response,
    c.n_turns,
    c.lang,
    COALESCE(c.record_domain, r.domain_hint) AS domain_hint,
    c.task_hint,
    c.difficulty_hint,
    c.reference_answer,
    c.text,
    c.detail AS unify_note,
    r.raw_id,
    r.format,
    r.file,
    r.locator,
    r.line,
    r.content_hash AS raw_content_hash
FROM converted AS c
JOIN raw_sources AS r USING (raw_id)
WHERE c.ok
ORDER BY r.source, r.file, r.line NULLS LAST, r.locator
