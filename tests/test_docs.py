"""Generated numbers in prose: every include block in the READMEs equals the file it copies."""

import pytest

from ffnlab.cli import docs

GENERATED = """# Results (x; 2 finished runs of 2)


| FFN | loss |
|---|---|
| relu | 4.402 |

loss: final validation loss.

**Verdict.** swiglu beat ReLU.
"""


def test_every_readme_copy_equals_its_generated_file():
    assert docs.documents(), "README.md should include generated tables"
    assert docs.stale() == [], "run ffnlab-docs: a README's copy differs from the file it includes"


def test_parts_of_a_generated_file():
    table = "| FFN | loss |\n|---|---|\n| relu | 4.402 |\n\nloss: final validation loss."
    assert docs.part(GENERATED, "table") == table
    assert docs.part(GENERATED, "verdict") == "**Verdict.** swiglu beat ReLU."
    assert docs.part(GENERATED, None).startswith("| FFN")
    assert docs.part("## A\nx\n## Headline (now)\n- a\n- b\n## C\ny\n", "section=Headline") == "- a\n- b"
    with pytest.raises(docs.DocsError, match="no part"):
        docs.part(GENERATED, "section=Nowhere")


def test_a_retyped_number_is_caught(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "h.md").write_text(GENERATED)
    readme = tmp_path / "README.md"
    readme.write_text("Intro\n<!-- include results/h.md table -->\n| FFN | loss |\n|---|---|\n| relu | 4.40 |\n"
                      "<!-- /include -->\nEnd\n")
    assert docs.stale(tmp_path) == [readme]
    readme.write_text(docs.render(readme, tmp_path))
    assert docs.stale(tmp_path) == [] and "| relu | 4.402 |" in readme.read_text()
    assert readme.read_text().startswith("Intro\n") and readme.read_text().endswith("<!-- /include -->\nEnd\n")


def test_a_claim_sentence_must_cite_a_generated_file(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("# X\n\nSwiGLU beats ReLU by 0.02 nats.\n\n- GELU trails it ([table](results/x/table.md)).\n\n"
                   "Does gating pay? We ask whether it holds.\n\n<!-- include results/h.md table -->\n"
                   "GLU is significantly worse.\n<!-- /include -->\n\n```\nrelu beats all\n```\n")
    assert docs.unsupported_claims(doc) == ["SwiGLU beats ReLU by 0.02 nats."]


def test_no_readme_claims_a_finding_without_citing_the_generated_file_it_rests_on():
    bad = {str(d.relative_to(docs.REPO_ROOT)): docs.unsupported_claims(d) for d in docs.claim_documents()}
    assert {k: v for k, v in bad.items() if v} == {}, "cite the generated file (results/...) in the paragraph"
