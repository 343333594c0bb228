"""The agent is one small standalone file: it runs on whatever python3 (3.8+) a cloud image has,
with nothing but the standard library, and fits inside a SageMaker lifecycle configuration."""
from __future__ import annotations

import ast
import subprocess
import sys

from nbctl_cloud.bootscript import AGENT_FILE, agent_source


def test_agent_file_stays_under_12_kib_and_travels_in_under_6():
    from nbctl_cloud.bootscript import packed_agent
    assert AGENT_FILE.stat().st_size < 12 * 1024
    assert len(packed_agent()) < 6 * 1024  # gzipped, base64: what every boot script carries


def test_agent_source_is_the_shipped_file():
    assert agent_source() == AGENT_FILE.read_text()


def test_agent_parses_as_python_3_8():
    ast.parse(agent_source(), feature_version=(3, 8))  # raises SyntaxError on newer syntax


def test_agent_imports_only_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(agent_source())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names)


def test_agent_runs_without_site_packages():
    # -I -S: no user site, no site-packages, no PYTHONPATH, as on a bare image
    result = subprocess.run([sys.executable, "-I", "-S", str(AGENT_FILE), "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "--idle-timeout" in result.stdout
