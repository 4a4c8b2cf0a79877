-- Per-key request limits over any 60 seconds, replacing fixed minute windows (which admitted the
-- limit at the end of one minute and again at the start of the next: twice the limit in seconds).
--
-- One row per key: the requests admitted in each of the last 61 seconds (counts[1] is the second
-- `newest`, counts[i] the second newest - (i - 1)). A request at time t is admitted while fewer
-- than the limit were admitted in the seconds floor(t) - 60 .. floor(t), a span that covers every
-- 60-second span ending at t: no 60 seconds ever admit more than the limit. Refused requests do
-- not count. Neither a weighted two-window counter (an estimate: up to ~2x the limit when the
-- previous minute's requests came at its end) nor a token bucket with a useful burst (burst + 60 s
-- of refill) gives that bound; this keeps whole bursts up to the limit and the exact bound, in
-- 61 integers per key.
--
-- The row lock serialises one key's requests (as the upsert of the minute window did), so
-- concurrent workers and replicas never both take the last place. UNLOGGED: no crash safety
-- needed, no WAL per request.
DROP TABLE api_rate_windows;

CREATE UNLOGGED TABLE api_rate_limits (
    subject  text      PRIMARY KEY,
    newest   bigint    NOT NULL,
    counts   integer[] NOT NULL
);

-- Take one request of `p_limit` per 60 s for `p_subject`: whether it is admitted, the requests
-- admitted in the window (this one included) and, when refused, the seconds until one would be.
CREATE FUNCTION api_rate_take(
    p_subject text, p_limit integer,
    OUT admitted boolean, OUT in_window integer, OUT retry_after_s double precision
) LANGUAGE plpgsql AS $$
DECLARE
    now_s double precision := extract(epoch FROM clock_timestamp());
    sec bigint := floor(now_s);
    head bigint;
    c integer[];
    shift bigint;
    excess integer;
BEGIN
    INSERT INTO api_rate_limits (subject, newest, counts) VALUES (p_subject, sec, array_fill(0, ARRAY[61]))
    ON CONFLICT (subject) DO NOTHING;
    SELECT r.newest, r.counts INTO head, c FROM api_rate_limits r WHERE r.subject = p_subject FOR UPDATE;
    -- The clock read before the lock can trail the second another request stored: count it there.
    shift := greatest(sec - head, 0);
    IF shift >= 61 THEN
        c := array_fill(0, ARRAY[61]);
    ELSIF shift > 0 THEN
        c := array_fill(0, ARRAY[shift::integer]) || c[1 : 61 - shift::integer];
    END IF;
    head := greatest(sec, head);
    in_window := (SELECT coalesce(sum(x), 0) FROM unnest(c) AS x);
    admitted := in_window < p_limit;
    retry_after_s := 0;
    IF admitted THEN
        c[1] := c[1] + 1;
        in_window := in_window + 1;
    ELSE
        -- The oldest seconds leave the window first; second b leaves it at b + 61.
        excess := in_window - p_limit + 1;
        FOR i IN REVERSE 61..1 LOOP
            excess := excess - c[i];
            IF excess <= 0 THEN
                retry_after_s := greatest((head - (i - 1) + 61) - now_s, 0);
                EXIT;
            END IF;
        END LOOP;
    END IF;
    UPDATE api_rate_limits SET newest = head, counts = c WHERE subject = p_subject;
END
$$;
