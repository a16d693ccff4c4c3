"""``crsscore monitor token create|revoke|list`` and ``crsscore monitor import``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crsscore.cli import _register, app

runner = CliRunner()


def run(*args: str) -> Any:
    _register()
    return runner.invoke(app, list(args))


def test_token_lifecycle(tmp_path: Path) -> None:
    from crsscore.monitor.auth import check_token
    from crsscore.monitor.db import Database

    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = run("monitor", "token", "create", "lab-feed", "--db", url)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[-1]
    assert secret.startswith("crsmon_")
    db = Database(url)
    assert check_token(db, secret) is not None
    r = run("monitor", "token", "create", "lab-feed", "--db", url)
    assert r.exit_code == 2 and "exists" in r.output
    r = run("monitor", "token", "list", "--db", url)
    assert "lab-feed" in r.output and secret not in r.output
    assert run("monitor", "token", "revoke", "lab-feed", "--db", url).exit_code == 0
    assert check_token(db, secret) is None
    assert run("monitor", "token", "revoke", "lab-feed", "--db", url).exit_code == 2
    db.dispose()


def test_import_through_the_ingestion_path(tmp_path: Path, sim_dir: Path, card_file: Path
                                           ) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = run("monitor", "import", str(sim_dir), "--db", url, "--card", str(card_file))
    assert r.exit_code == 0, r.output
    assert "125 patient(s) created" in r.output
    r = run("monitor", "import", str(sim_dir), "--db", url, "--card", str(card_file))
    assert r.exit_code == 0 and " 0 new, 0 updated" in r.output


def test_import_refuses_bad_files_like_the_loaders(tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "patients.csv").write_text("patient_id,infusion_date\nP1,2024-01-01\n")
    (data / "observations.csv").write_text(
        "patient_id,day,analyte,value,unit\nP1,1,crp,5,mg/L\nP1,1,il6,3,furlongs\n")
    (data / "events.csv").write_text("patient_id,day,event,value,unit,detail\n")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = run("monitor", "import", str(data), "--db", url)
    assert r.exit_code == 2
    assert "furlongs" in r.output and "row 3" in r.output
    from sqlalchemy import func, select

    from crsscore.monitor.db import Database, Observation, Patient

    db = Database(url)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 0
        assert s.scalar(select(func.count()).select_from(Observation)) == 0
    db.dispose()


def test_import_with_a_mapping(tmp_path: Path) -> None:
    """A centre's wide daily export through --mapping lands in the monitor."""
    export = tmp_path / "export.csv"
    export.write_text("MRN,Infusion,Day,CRP (mg/dL),Temp\nA1,2024-02-01,1,2.5,38.4\n"
                      "A1,2024-02-01,2,9.0,39.2\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text("""file = "export.csv"

[patients]
layout = "patient_day"
take = "constant"
[patients.columns]
patient_id = "MRN"
day = "Day"
infusion_date = "Infusion"

[observations]
layout = "patient_day"
[observations.columns]
patient_id = "MRN"
day = "Day"
[observations.analytes]
"CRP (mg/dL)" = "crp"
Temp = "temp"
[observations.units]
crp = "mg/dL"
temp = "C"
""")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = run("monitor", "import", str(export), "--mapping", str(mapping), "--db", url)
    if r.exit_code != 0:  # the mapping dialect is the loaders'; show what they said
        raise AssertionError(r.output)
    from sqlalchemy import select

    from crsscore.monitor.db import Database, Observation

    db = Database(url)
    with db.read() as s:
        crp = sorted(s.scalars(select(Observation.value).where(Observation.analyte == "crp")))
    db.dispose()
    assert crp == [25.0, 90.0]
