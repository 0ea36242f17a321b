"""README: a usage error is one line naming the culprit. A bad SWEEP_STORAGE is blamed on
`--storage`, an option the user never gave (SWEEP_STUDY's errors do name SWEEP_STUDY)."""


def test_a_bad_sweep_storage_is_named_as_the_variable(cli, made_study):
    proc = cli("trials", "--study", "done", "--studies-dir", made_study.parent,
               env={"SWEEP_STORAGE": "host=127.0.0.1 port=1 user=u password=pw dbname=d"})
    assert proc.returncode == 2, proc.stderr
    assert "pw" not in proc.stderr.replace("password", "")
    assert "SWEEP_STORAGE" in proc.stderr, proc.stderr


def test_the_study_variable_is_named_for_comparison(cli, made_study):
    proc = cli("trials", "--studies-dir", made_study.parent, env={"SWEEP_STUDY": "../x"})
    assert proc.returncode == 2 and "SWEEP_STUDY" in proc.stderr, proc.stderr
