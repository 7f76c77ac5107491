"""Word-level tokens (ffnlab.data.words): ids by train frequency, a newline token, the release's <unk> for unseen
words, and on WikiText-2 the published vocabulary and token counts."""


from conftest import needs_shared
from ffnlab.data.words import EOS, UNK, train_words
from ffnlab.runs import config


def test_ids_follow_train_frequency_and_each_newline_is_an_eos_token():
    tok = train_words(["b a a\n", "c a b\n", "a\n"])
    vocab = tok.get_vocab()
    order = sorted(vocab, key=vocab.get)  # 'a' ×4 and <eos> ×3 lead, then b ×2, then c, and <unk> (unseen) last
    assert order == ["a", EOS, "b", "c", UNK]
    assert tok.encode("a c\n").tokens == ["a", "c", EOS]
    assert tok.encode("a zebra\n").tokens == ["a", UNK, EOS]  # a word train never saw


def test_word_tokens_leave_blimp_off_unless_asked():
    on = config.settings(config.compose(["data=wikitext2"]))
    words = config.settings(config.compose(["data=wikitext2", "data.tokenizer=words"]))
    asked = config.settings(config.compose(["data=wikitext2", "data.tokenizer=words", "blimp.enabled=true"]))
    assert config.blimp_on(on) and not config.blimp_on(words) and config.blimp_on(asked)


@needs_shared
def test_wikitext2_words_give_the_published_vocabulary_and_token_counts(cache_dir):
    cfg = config.settings(config.compose(["data=wikitext2", "data.tokenizer=words", f"data.cache_dir={cache_dir}"]))
    from ffnlab.runs.build import datamodule as build_dm

    info = build_dm(cfg).load()
    assert (info.vocab_size, info.train_tokens, info.val_tokens, info.test_tokens) == (33278, 2088628, 217646,
                                                                                       245569)
    assert info.tokenizer.startswith("words-v1")
