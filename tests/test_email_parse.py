"""Reading customer e-mails: requests, sender, quoted history, language, tone (pure text, no models)."""

from __future__ import annotations

from awsomechat.chat.email import detect_language, parse_email, strip_quoted

MARIA = (
    "Hello support team, we are moving our image-resizing service to AWS Lambda and our deployment "
    "package with all dependencies is about 180 MB unzipped. Will that fit, and is there a limit on how "
    "many layers we can attach to the function? Thanks, Maria"
)


def test_the_issue_example_has_two_requests_each_with_its_context() -> None:
    e = parse_email(MARIA)
    assert e.sender == "Maria" and e.greeting == "Hello" and e.language == "en"
    assert [r.text for r in e.requests] == [
        "Will that fit",
        "is there a limit on how many layers we can attach to the function?",
    ]
    # "that" is the package: the request is retrieved with the statement it leans on
    assert "180 MB unzipped" in e.requests[0].query
    assert "Maria" not in " ".join(r.query for r in e.requests)


def test_numbered_questions_signature_block_and_register() -> None:
    e = parse_email(
        "Dear Support,\n\nOur team is connecting an SQS queue to a Lambda function. Two questions:\n"
        "1. What is the largest batch size?\n2. How should we set the visibility timeout of the queue?\n\n"
        "Best regards,\nAnna Kowalski\nPlatform Engineering, Nordwind Logistics"
    )
    assert e.sender == "Anna Kowalski" and e.greeting == "Dear"
    assert [r.text for r in e.requests] == [
        "What is the largest batch size?",
        "How should we set the visibility timeout of the queue?",
    ]
    assert all("SQS queue" in r.query for r in e.requests)
    assert "Nordwind" not in e.body


def test_quoted_history_is_not_a_request() -> None:
    mail = (
        "Hi,\n\nOne more thing: where do the layer files end up in the execution environment?\n\n"
        "Best,\nMaria\n\n"
        "> On Tue, 1 Dec 2026, The support team wrote:\n> Hello Maria, a function can use up to 5 layers."
    )
    e = parse_email(mail)
    assert e.sender == "Maria"
    assert [r.text for r in e.requests] == ["where do the layer files end up in the execution environment?"]
    outlook = (
        "How many load balancers per Region?\n\n-----Original Message-----\nFrom: Karl\nIs there a limit?"
    )
    assert strip_quoted(outlook) == "How many load balancers per Region?"


def test_a_follow_up_question_borrows_the_subject_of_the_one_before() -> None:
    e = parse_email(
        "Hello,\n\nHow often does an Application Load Balancer write access logs? "
        "Is there a charge for them?\n\nMateo"
    )
    assert e.sender == "Mateo"
    second = e.requests[1]
    assert second.text == "Is there a charge for them?" and "Application Load Balancer" in second.query


def test_a_question_asked_as_a_statement_is_a_request() -> None:
    e = parse_email("Hello,\n\nour auditors ask how long GuardDuty keeps findings.\n\nKind regards,\nIngrid")
    assert [r.text for r in e.requests] == ["our auditors ask how long GuardDuty keeps findings."]


def test_language_and_tone() -> None:
    de = parse_email(
        "Hallo Support-Team,\n\nwir möchten unseren Export nach AWS Lambda verschieben. Wie lange darf eine "
        "Lambda-Funktion maximal laufen?\n\nViele Grüße\nJürgen"
    )
    assert de.language == "de" and de.sender == "Jürgen" and de.greeting == "Hallo"
    assert detect_language("Bonjour, comment puis-je activer les journaux pour mon équilibreur ?") == "fr"
    assert parse_email("Hello,\n\nThis is the third time I am writing. How do I fix it?\n\nKevin").frustrated
    assert not parse_email(MARIA).frustrated


def test_a_mail_without_a_question_mark_is_still_one_request() -> None:
    e = parse_email("Hello,\n\nPlease send me a copy of last month's invoice.\n\nThanks,\nGabriel")
    assert e.sender == "Gabriel"
    assert [r.text for r in e.requests] == ["Please send me a copy of last month's invoice."]
