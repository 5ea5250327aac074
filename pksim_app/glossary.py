"""The app's glossary: plain-language meanings of the terms its pages use (text, no numbers)."""

from __future__ import annotations

GLOSSARY = {
    "Relational window": "The range of effect-site concentrations in which people in the "
    "couples studies reported being present and connected without dissociating (the band edges "
    "are on *Models & evidence* and can be changed for a session).",
    "Effect site": "A virtual compartment standing for where ketamine acts (the brain). Its "
    "concentration follows the plasma concentration with a delay; the subjective effects are "
    "judged against it.",
    "ke0": "The rate constant of equilibration between plasma and the effect site (1/min): "
    "the larger it is, the shorter the delay between a plasma peak and the effect-site peak.",
    "Hysteresis": "Plotted against each other, plasma and effect-site concentrations walk a "
    "loop: the same plasma concentration means less effect on the way up than on the way down.",
    "Onset / offset": "When the effect-site concentration enters / leaves the relational window.",
    "Session block": "The part of the session (minutes after the first dose) during which the "
    "partners should be in the window; 'P(whole block)' counts people in the window for all of it.",
    "MC s.e.": "Monte-Carlo standard error: how much a percentage from a finite virtual "
    "population would move with another random seed (more people, smaller error). It is not "
    "the uncertainty of the model itself.",
    "Typical person": "One virtual person with every parameter at its typical (median) value. "
    "The population median is the middle of many sampled people and differs from it, because "
    "averaging people is not the same as averaging parameters.",
    "Bioavailable dose": "The part of the dose that reaches the blood (routes other than "
    "intravenous lose part of it on the way).",
}
