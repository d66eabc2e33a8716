"""Unit tests of the example's standard-library parts (no Django, no database):
DATABASE_URL parsing, message tokens, FAQ ranking, the renderer's NULL and price rules.

    cd examples/django && python3 -m unittest test_stdlib_parts
"""

import unittest
from decimal import Decimal

from contexts_site.database import SESSION_OPTIONS, DatabaseUrlError, database_from_url
from support.prompt import message_tokens, rank_faqs, render_prompt


class DatabaseUrlTest(unittest.TestCase):
    def test_parses_every_part(self):
        db = database_from_url("postgresql://app%40corp:p%2Fw%3Ad@db.internal:6543/shop%20db?sslmode=require&connect_timeout=5")
        self.assertEqual(
            db,
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "shop db",
                "USER": "app@corp",
                "PASSWORD": "p/w:d",
                "HOST": "db.internal",
                "PORT": "6543",
                "OPTIONS": {"sslmode": "require", "connect_timeout": "5", "options": SESSION_OPTIONS},
                "CONN_MAX_AGE": None,
            },
        )

    def test_defaults_and_merged_session_options(self):
        db = database_from_url("postgres:///test?options=-c%20work_mem%3D64MB")
        self.assertEqual((db["HOST"], db["PORT"], db["USER"], db["PASSWORD"]), ("", "", "", ""))
        self.assertEqual(db["OPTIONS"]["options"], "-c work_mem=64MB " + SESSION_OPTIONS)

    def test_rejects_what_it_cannot_use_in_one_line_without_the_password(self):
        for url, message in [
            (None, "DATABASE_URL is not set"),
            ("", "DATABASE_URL is not set"),
            ("mysql://u:hunter2@h/db", "the scheme must be postgres://"),
            ("postgres://u:hunter2@h:99999/db", "the port is not a number"),
            ("postgres://u:hunter2@h:5432", "no database name"),
        ]:
            with self.assertRaises(DatabaseUrlError) as caught:
                database_from_url(url)
            self.assertIn(message, str(caught.exception))
            self.assertNotIn("hunter2", str(caught.exception))
            self.assertNotIn("\n", str(caught.exception))


class TokensTest(unittest.TestCase):
    def test_lowercase_distinct_runs_of_letters_marks_digits_of_three_code_points(self):
        self.assertEqual(message_tokens("Do you ship to Köln? ok, SHIP 2024!"), ["you", "ship", "köln", "2024"])
        # A Persian word with a vowel mark (U+064E, a combining mark) stays one token.
        self.assertEqual(message_tokens("قَیمت چیه؟"), ["قَیمت", "چیه"])
        self.assertEqual(message_tokens(None), [])


class RankTest(unittest.TestCase):
    def test_score_then_confidence_nulls_last_then_id_bytes(self):
        def faq(id, keywords, confidence):
            return {"id": id, "keywords": keywords, "confidence_score": confidence}

        faqs = [
            faq("b", ["ship"], None),
            faq("a", ["ship"], None),
            faq("c", ["ship"], 0.5),
            faq("d", ["ship", "price"], 0.1),
            faq("e", [], 0.9),
            faq("B", ["ship"], None),
            faq("f", ["ship"], 0.7),
        ]
        self.assertEqual([f["id"] for f in rank_faqs(faqs, "ship price?")], ["d", "f", "c", "B", "a", "b", "e"])
        self.assertEqual(len(rank_faqs([faq(str(i), [], None) for i in range(12)], "x")), 8)


class RenderTest(unittest.TestCase):
    def test_null_renders_empty_and_prices_as_decimal_text(self):
        prompt = render_prompt(
            {
                "system": None,
                "customer": {"first_name": "Sara", "last_name": None, "phone_number": None, "source": "telegram"},
                "history": [{"speaker": "AI", "content": None}],
                "products": [{"title": "Mug", "product_type": None, "description": None, "price": Decimal("19.90"), "link": None, "tags": ["a", "b"]}],
                "websites": [],
                "pages": [],
                "faqs": [],
                "question": "hi",
            }
        )
        self.assertEqual(
            prompt,
            "## SYSTEM\n\n## CUSTOMER\nFirst name: Sara\nLast name: \nPhone: \nChannel: telegram\n\n"
            "## HISTORY\nAI: \n\n## PRODUCTS\n- Mug [] 19.90\n  Description: \n  Link: \n  Tags: a, b\n\n"
            "## WEBSITES\n\n## FAQ\n\n## QUESTION\nhi\n",
        )


if __name__ == "__main__":
    unittest.main()
