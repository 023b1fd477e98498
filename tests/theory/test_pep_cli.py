"""`ratecheck pep` end to end: the worst case printed beside the bounds, exit codes."""

import re

from ratecheck.cli import main


def _number(out: str, label: str) -> float:
    return float(re.search(rf"{re.escape(label)}\s+([0-9.eE+-]+)", out).group(1))


def test_pep_sgd_linear_decay_sits_below_its_bounds(capsys):
    assert main(["pep", "--method", "sgd", "--schedule", "linear", "-T", "6"]) == 0
    out = capsys.readouterr().out
    pep, thm10 = _number(out, "PEP worst case f(x_T)-f*"), _number(out, "Theorem 10 bound")
    assert 0 < pep <= thm10 and "PEP <= bounds: yes" in out


def test_pep_gd_smooth_matches_the_tight_closed_form(capsys):
    assert main(["pep", "--class", "smooth", "--schedule", "constant", "-T", "4", "-L", "2"]) == 0
    out = capsys.readouterr().out
    pep = _number(out, "PEP worst case f(x_T)-f*")
    assert abs(pep - 2.0 / (4 * 4 + 2)) <= 1e-3 * pep


def test_pep_bad_horizon_is_one_line_exit_2(capsys):
    assert main(["pep", "-T", "0"]) == 2
    assert "-T 0 is out of range" in capsys.readouterr().err
