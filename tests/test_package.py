"""The package as a library user meets it: ``import aukit`` stays light, and ``aukit.<module>`` works
after it (the docstring said the modules load on first use, but ``aukit.metrics`` raised AttributeError)."""
import subprocess
import sys

import aukit


def test_every_module_is_reached_from_a_bare_import_and_loads_on_first_use():
    code = ("import sys, aukit\nlight = 'torch' not in sys.modules and 'pandas' not in sys.modules\n"
            "print(light, aukit.metrics.icc31([1, 2, 3, 4], [1, 2, 3, 5]) > 0.9, 'torch' in sys.modules or "
            "'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True"]
    for name in aukit.LAZY:
        assert getattr(aukit, name).__name__ == f"aukit.{name}" and name in dir(aukit)
    assert callable(aukit.predict)


def test_a_misspelt_attribute_is_still_an_attribute_error():
    import pytest
    with pytest.raises(AttributeError, match="module 'aukit' has no attribute 'metric'"):
        aukit.metric
