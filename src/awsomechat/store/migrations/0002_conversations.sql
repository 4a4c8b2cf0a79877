-- Conversation memory: sessions per user, their messages (one row per question/answer turn) and
-- feedback on answers. Every query filters by user_id: a user only ever reads their own.
CREATE TABLE chat_sessions (
    id          uuid        PRIMARY KEY,
    user_id     text        NOT NULL,
    title       text        NOT NULL DEFAULT '',
    profile     text        NOT NULL DEFAULT 'chat',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_user_idx ON chat_sessions (user_id, updated_at DESC);

CREATE TABLE chat_messages (
    id                   uuid        PRIMARY KEY,
    session_id           uuid        NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    user_id              text        NOT NULL,
    seq                  integer     NOT NULL,
    question             text        NOT NULL,
    standalone_question  text        NOT NULL,
    answer               text        NOT NULL,
    abstained            boolean     NOT NULL DEFAULT false,
    citations            jsonb       NOT NULL DEFAULT '[]'::jsonb,
    sources              jsonb       NOT NULL DEFAULT '[]'::jsonb,
    model                text        NOT NULL DEFAULT '',
    prompt_tokens        integer     NOT NULL DEFAULT 0,
    completion_tokens    integer     NOT NULL DEFAULT 0,
    timings              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, seq)
);
CREATE INDEX chat_messages_user_idx ON chat_messages (user_id);

CREATE TABLE chat_feedback (
    message_id  uuid        PRIMARY KEY REFERENCES chat_messages (id) ON DELETE CASCADE,
    user_id     text        NOT NULL,
    rating      smallint    NOT NULL CHECK (rating IN (-1, 1)),
    comment     text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
