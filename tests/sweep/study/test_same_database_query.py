"""Hostile tester 2: the same database spelled otherwise, with libpq's query parameters."""

from __future__ import annotations

from sweep.study.storage import same_storage


def test_a_host_and_port_given_in_the_query_name_the_same_database():
    # found: a study made with postgresql://sweep:pw@127.0.0.1:54329/sweep was refused
    # ("lives in ..., another storage") when read with
    # postgresql://sweep:pw@/sweep?host=127.0.0.1&port=54329, the same server and
    # database in libpq's other spelling
    url = "postgresql://sweep:pw@127.0.0.1:54329/sweep"
    assert same_storage(url, "postgresql://sweep:pw@/sweep?host=127.0.0.1&port=54329")
    assert not same_storage(url, "postgresql://sweep:pw@/sweep?host=127.0.0.1&port=5432")
