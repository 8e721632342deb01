"""Segmentation: civic words stay whole, stop words go, odd input is cleaned."""

import threading
from pathlib import Path

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


def test_fused_route_search_cuts_exactly_like_jieba():
    import random

    from nlp.segment import _import_jieba

    ours = tokenizer()
    plain = _import_jieba().Tokenizer()
    plain.FREQ, plain.total, plain.initialized = ours.FREQ, ours.total, True
    rng = random.Random(3)
    common = (
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
        "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
        "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
        "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变"
        "条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
        "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
        "几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器"
        "压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安"
        "场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集"
        "温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连"
        "断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精"
        "值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属"
        "圆包火住调满县局照参红细引听该铁价严小区物业投诉拖欠工资医院学校公交"
    )
    texts = ["".join(rng.choice(common) for _ in range(rng.randint(1, 80))) for _ in range(400)]
    texts += [
        "A市A3区魏家坡小区物业不作为，业主多次向社区反映都得不到解决",
        "我在县政务服务中心办理不动产登记，窗口工作人员态度很差！！",
        "WiFi密码wrong😡小区停水3天了 call 12345",
    ]
    for text in texts:
        assert ours.lcut(text) == plain.lcut(text), text


def test_fused_route_search_breaks_ties_like_jieba():
    from nlp.segment import _fused_tokenizer_class, _import_jieba

    jieba = _import_jieba()
    # P(甲乙) = P(甲) P(乙) exactly: both routes score the same; jieba keeps the longer word.
    freq = {"甲": 2, "乙": 2, "甲乙": 1, "丙": 0}
    ours, plain = _fused_tokenizer_class(jieba)(), jieba.Tokenizer()
    for tk in (ours, plain):
        tk.FREQ, tk.total, tk.initialized = dict(freq), 4, True
    for text in ["甲乙", "甲乙甲乙乙", "丙甲乙丙"]:
        assert ours.lcut(text) == plain.lcut(text)
    assert ours.lcut("甲乙") == ["甲乙"]


def test_fast_hmm_cuts_exactly_like_jiebas_finalseg(monkeypatch):
    import random

    from jieba import finalseg

    from nlp.segment import hmm_cut

    rng = random.Random(5)
    # Rare characters (no emission probability) produce exact ties: tie-breaks are exercised.
    chars = [chr(c) for c in range(0x4E00, 0x9FD6, 7)] + list("abc12.5%，。😀")
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    texts += ["魏家坡巷业主", "蔡锷南路华庭", "鿿鿿鿿", "3.5%的人"]
    for text in texts:
        assert list(hmm_cut(text)) == list(finalseg.cut(text)), text
    monkeypatch.setattr(finalseg, "Force_Split_Words", {"魏家"})
    assert list(hmm_cut("魏家坡巷")) == list(finalseg.cut("魏家坡巷"))


def test_tokens_equal_jiebas_cut_without_whitespace():
    import random

    from nlp.segment import _import_jieba

    ours = tokenizer()
    plain = _import_jieba().Tokenizer()
    plain.FREQ, plain.total, plain.initialized = ours.FREQ, ours.total, True
    rng = random.Random(11)
    chars = "小区物业停水投诉拖欠工资 \t\r\n\u3000\xa0A3区ab12.5%😀，。-+#鿿魏家坡巷"
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    for text in texts:
        assert ours.tokens(text) == [t for t in plain.lcut(text) if t.strip()], repr(text)


def test_cached_log_probabilities_follow_dictionary_changes():
    from nlp.segment import _fused_tokenizer_class, _import_jieba

    jieba = _import_jieba()
    ours, plain = _fused_tokenizer_class(jieba)(), jieba.Tokenizer()
    for tk in (ours, plain):
        tk.FREQ, tk.total, tk.initialized = {"甲": 4, "乙": 4, "甲乙": 1, "丙": 3}, 12, True
    seen = [ours.tokens("甲乙丙")]
    for change in (
        lambda tk: tk.add_word("甲乙", 100),
        lambda tk: tk.del_word("甲乙"),
        lambda tk: tk.add_word("乙丙", 50),
    ):
        for tk in (ours, plain):
            change(tk)
        seen.append(ours.tokens("甲乙丙"))
        assert seen[-1] == plain.lcut("甲乙丙")
    assert seen[1] == ["甲乙", "丙"] and seen[-1] == ["甲", "乙丙"]  # the cache followed


def _board_like_texts():
    import random

    rng = random.Random(17)
    words = (
        "小区 物业 不作为 电梯 经常 坏 业主 多次 反映 没有人管 住建局 督促 整改 A市 A3区 "
        "魏家坡巷 蔡锷南路 华庭 拖欠 工资 3.5% 的 了 是 人社局 养老保险 WiFi 12345 鿿 "
        "政务服务中心 不动产登记 ， 。 ！ ？ 😀 \u3000 \xa0 \t 医保 报销 太慢 了 abc a1b2"
    ).split(" ")
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(0, 40))) for _ in range(1500)]
    chars = "小区物业停水投诉拖欠工资 \t\r\n\u3000\xa0A3区ab12.5%😀，。-+#鿿魏家坡巷的了是"
    texts += ["".join(rng.choice(chars) for _ in range(rng.randint(0, 60))) for _ in range(1500)]
    texts += ["", " ", "a", "鿿鿿鿿", "3.5%的人", "投诉" * 2500, "甲" * 300]
    return texts


def test_array_segmenter_cuts_exactly_like_the_tokenizer():
    from nlp.segment import array_segmenter

    texts = [clean_text(t) for t in _board_like_texts()]
    ours = tokenizer()
    expected = [ours.tokens(t) for t in texts]
    assert array_segmenter().cut_many(texts) == expected
    # Batches are cut in chunks: a text's tokens do not depend on its neighbours.
    assert [array_segmenter().cut_many([t])[0] for t in texts[::37]] == expected[::37]
    assert array_segmenter().cut_many([]) == []


def test_array_segmenter_is_rebuilt_from_a_missing_or_corrupt_cache(tmp_path, monkeypatch):
    from nlp import array_segment, segment

    monkeypatch.setenv("MINYI_NLP_CACHE", str(tmp_path))
    monkeypatch.setattr(segment, "_arrays", None)
    text = "A市A3区魏家坡小区物业不作为，业主多次向社区反映都得不到解决"
    built = segment.array_segmenter().cut_many([text])
    (path,) = tmp_path.glob("minyi-segdict-*.npz")
    assert not list(tmp_path.glob("*.tmp"))
    assert array_segment.load(path).cut_many([text]) == built == [tokenizer().tokens(text)]
    path.write_bytes(b"not arrays")
    assert array_segment.load(path) is None
    monkeypatch.setattr(segment, "_arrays", None)
    assert segment.array_segmenter().cut_many([text]) == built
    assert path.stat().st_size > 1_000_000  # rewritten


def test_segment_cleaned_equals_segment():
    from nlp.segment import segment_cleaned

    texts = ["医保報銷太慢了", "ＡＢＣ１２３小区停水", "", "小区路灯坏了半年没人修"]
    assert segment_cleaned([clean_text(t) for t in texts]) == [segment(t) for t in texts]


def test_cache_folder_outlives_the_temp_dir_and_falls_back_to_it(tmp_path, monkeypatch):
    import tempfile

    from nlp.cache import cache_folder

    monkeypatch.setenv("MINYI_NLP_CACHE", str(tmp_path / "chosen"))
    assert cache_folder() == tmp_path / "chosen"
    monkeypatch.delenv("MINYI_NLP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "minyi"
    assert (tmp_path / "xdg" / "minyi").is_dir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # minyi/ cannot be made under a file
    assert cache_folder() == Path(tempfile.gettempdir())
