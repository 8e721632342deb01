"""Segmentation: civic words stay whole, stop words go, odd input is cleaned."""

import threading

from nlp.segment import clean_text, content_words, segment, stopwords, tokenizer


def test_civic_words_stay_whole():
    tokens = segment("我在县政务服务中心办理不动产登记，人社局说养老保险要去社保中心")
    for word in ["政务服务中心", "不动产登记", "人社局", "养老保险", "社保中心"]:
        assert word in tokens


def test_content_words_drop_stop_words_punctuation_and_digits():
    words = content_words(segment("您好，请问我们小区的问题什么时候解决？2024年"))
    assert "小区" in words and "解决" in words
    assert not {"您好", "请问", "我们", "问题", "什么", "，", "？", "2024"} & set(words)
    assert {"您们", "因为", "可以"} <= stopwords()


def test_clean_text_handles_surrogates_width_and_length():
    assert clean_text("\ud800医院") == "?医院"
    assert clean_text("ＡＢＣ１２３") == "ABC123"
    assert clean_text(None) == "" and clean_text(42) == "42"
    assert len(clean_text("字" * 100_000)) == 5000


def test_tokenizer_is_built_once_across_threads():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(tokenizer())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(t) for t in seen}) == 1


def test_fast_prefix_cache_equals_jiebas_own_dictionary(tmp_path, monkeypatch):
    from nlp.segment import _import_jieba, _load_prefix_dict

    monkeypatch.setenv("MINYI_NLP_CACHE", str(tmp_path))
    jieba = _import_jieba()
    built = jieba.Tokenizer()
    _load_prefix_dict(built, jieba)  # no cache yet: jieba's own init, then our cache written
    assert len(list(tmp_path.glob("minyi-jieba-*.npz"))) == 1
    assert not list(tmp_path.glob("*.tmp"))
    cached = jieba.Tokenizer()
    _load_prefix_dict(cached, jieba)  # from our cache
    assert cached.initialized and cached.total == built.total
    assert cached.FREQ == built.FREQ
    text = "A市A3区魏家坡小区物业不作为，业主多次向社区反映都得不到解决"
    assert cached.lcut(text) == built.lcut(text)


def test_corrupt_prefix_cache_falls_back_to_jieba(tmp_path, monkeypatch):
    from nlp.segment import _import_jieba, _load_prefix_dict, _prefix_cache_path

    monkeypatch.setenv("MINYI_NLP_CACHE", str(tmp_path))
    jieba = _import_jieba()
    _prefix_cache_path(jieba).write_bytes(b"not a cache")
    tk = jieba.Tokenizer()
    _load_prefix_dict(tk, jieba)
    assert tk.initialized and "政务" in tk.FREQ
    assert _prefix_cache_path(jieba).stat().st_size > 1_000_000  # rewritten
