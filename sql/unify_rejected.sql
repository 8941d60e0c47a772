-- Raw records that could not be unified, with the reason and where they came from.
SELECT
    r.raw_id,
    r.source,
    r.file,
    r.locator,
    r.line,
    c.reason,
    c.detail,
    left(r.record, 500) AS record_head
FROM converted AS c
JOIN raw_sources AS r USING (raw_id)
WHERE NOT c.ok
ORDER BY r.source, r.file, r.line NULLS LAST, r.locator
