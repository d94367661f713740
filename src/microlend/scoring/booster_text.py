"""Checking a LightGBM model text before LightGBM reads it.

LightGBM parses trees in parallel and reports a malformed one by aborting the whole process (a C++
``terminate``), not with a Python exception. A registered model is outside input, so its text is checked
here first: the layout (``tree_sizes`` pointing at ``Tree=k`` blocks, ``end of trees``), every number,
the array lengths against ``num_leaves``, and the child and feature indices. ``verify_in_subprocess``
is the backstop for registration: it lets a separate process read the text, so whatever slips past the
checks can only kill that process.
"""

from __future__ import annotations

import re
import subprocess
import sys

from microlend.errors import ValidationError

_INT_KEYS = ("num_leaves", "num_cat", "split_feature", "decision_type", "left_child", "right_child", "leaf_count",
             "internal_count", "cat_boundaries", "cat_threshold")
_FLOAT_KEYS = ("split_gain", "threshold", "leaf_value", "leaf_weight", "internal_value", "internal_weight",
               "shrinkage")
_PER_SPLIT = ("split_feature", "split_gain", "threshold", "decision_type", "left_child", "right_child")


def _refuse(message: str) -> None:
    raise ValidationError(f"the booster text is malformed: {message}", code="invalid_model_artifact", field="booster")


def _numbers(text: str, kind, key: str, tree: int) -> list:
    try:
        return [kind(token) for token in text.split()]
    except ValueError:
        _refuse(f"tree {tree}: {key} holds something that is not a number")


def check_booster_text(text) -> None:
    """Raise ``invalid_model_artifact`` unless ``text`` is laid out like a LightGBM model text."""
    if not isinstance(text, str) or not text.startswith("tree\n"):
        _refuse("it does not start with 'tree'")
    data = text.encode("utf-8")
    sizes_match = re.search(rb"^tree_sizes=([0-9 ]*)$", data, re.MULTILINE)
    features_match = re.search(rb"^max_feature_idx=(-?[0-9]+)$", data, re.MULTILINE)
    if sizes_match is None or features_match is None:
        _refuse("no tree_sizes or max_feature_idx line")
    sizes = [int(v) for v in sizes_match.group(1).split()]
    max_feature = int(features_match.group(1))
    position = data.find(b"\nTree=0\n") + 1 if sizes else data.find(b"\nend of trees")
    if position <= 0:
        _refuse("no trees")
    for k, size in enumerate(sizes):
        block = data[position:position + size].decode("utf-8", errors="replace")
        if not block.startswith(f"Tree={k}\n"):
            _refuse(f"tree_sizes do not point at tree {k}")
        _check_tree(block, k, max_feature)
        position += size
    if not data[position:].lstrip(b"\n").startswith(b"end of trees"):
        _refuse("no 'end of trees' after the last tree")


def _check_tree(block: str, k: int, max_feature: int) -> None:
    fields = {}
    for line in block.splitlines()[1:]:
        if "=" in line:
            key, _, value = line.partition("=")
            fields[key] = value
    if "num_leaves" not in fields or "leaf_value" not in fields:
        _refuse(f"tree {k} has no num_leaves or leaf_value")
    values = {key: _numbers(fields[key], int if key in _INT_KEYS else float, key, k)
              for key in _INT_KEYS + _FLOAT_KEYS if key in fields}
    if len(values["num_leaves"]) != 1 or values["num_leaves"][0] < 1:
        _refuse(f"tree {k}: num_leaves")
    leaves = values["num_leaves"][0]
    if len(values["leaf_value"]) != leaves:
        _refuse(f"tree {k}: {len(values['leaf_value'])} leaf values for {leaves} leaves")
    if leaves > 1:
        for key in _PER_SPLIT:
            if len(values.get(key, ())) != leaves - 1:
                _refuse(f"tree {k}: {key} needs {leaves - 1} values")
        if any(not 0 <= f <= max_feature for f in values["split_feature"]):
            _refuse(f"tree {k}: a split on a feature the model does not have")
        for key in ("left_child", "right_child"):
            if any(not -leaves <= c <= leaves - 2 for c in values[key]):
                _refuse(f"tree {k}: {key} points outside the tree")
        boundaries, categories = values.get("cat_boundaries", [0]), values.get("cat_threshold", [])
        if boundaries and (boundaries[0] != 0 or boundaries[-1] != len(categories)
                           or any(b < a for a, b in zip(boundaries, boundaries[1:]))):
            _refuse(f"tree {k}: cat_boundaries do not match cat_threshold")


_READ = "import sys, lightgbm; lightgbm.Booster(model_str=sys.stdin.read())"


def verify_in_subprocess(text: str, timeout: float = 120.0) -> None:
    """Let another process read the text: if LightGBM aborts, only that process dies."""
    check_booster_text(text)
    try:
        result = subprocess.run([sys.executable, "-c", _READ], input=text, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        _refuse(f"LightGBM did not read it within {timeout:.0f} s")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        _refuse(f"LightGBM could not read it ({last[:200]})")
