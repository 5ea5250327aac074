"""Known biases are tied to routes by each route's ``words`` in the model file, so a new route
brings its own vocabulary (no route literals in the validation code)."""

from __future__ import annotations

import dataclasses

import pytest
from observation_rows import FROZEN_MODEL

from pksim.errors import ModelFileError
from pksim.model import load_model
from pksim.observations import load_observations
from pksim.validation import mentions, related_biases


@pytest.mark.parametrize(
    "text, words, expected",
    [
        ("mucosal uptake is slow", ["mucosa"], True),  # at a word start: prefixes count
        ("Intravenously given", ["intravenous"], True),  # case is ignored
        ("the nasopharynx", ["nasal"], False),
        ("a transnasal tube", ["nasal"], False),  # not at a word start
        ("IV bolus peaks", ["IV"], True),  # an abbreviation as a whole word
        ("an ivory tower; IVs", ["IV"], False),  # ... in capitals only, and whole
        ("nothing here", [], False),
    ],
)
def test_a_word_marks_a_text_at_a_word_start(text, words, expected):
    assert mentions(text, words) is expected


def test_an_arm_gets_the_biases_that_name_its_route():
    model = load_model("ketamine")
    arm = next(a for a in load_observations() if a.route == "sublingual")
    got = related_biases(model, arm)
    assert got and all(mentions(b, model.routes["sublingual"].words) for b in got)
    # the model file's words decide: give the route another word and it gets other biases
    retagged = dataclasses.replace(
        model,
        routes={
            **model.routes,
            "sublingual": dataclasses.replace(model.routes["sublingual"], words=("tolerance",)),
        },
    )
    assert related_biases(retagged, arm) == [
        b for b in model.known_biases if b.startswith("Tolerance")
    ]


@pytest.mark.parametrize("words", ['["two words"]', "[3]", '"sublingual"'])
def test_route_words_must_be_a_list_of_words(tmp_path, words):
    text = FROZEN_MODEL.read_text()
    old = 'words = ["sublingual", "buccal", "mucosa", "lozenge", "wafer", "SL"]'
    assert old in text
    path = tmp_path / "m.toml"
    path.write_text(text.replace(old, f"words = {words}"))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert "routes.sublingual.words" in str(info.value)
