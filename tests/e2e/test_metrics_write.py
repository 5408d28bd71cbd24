"""Influx line protocol writes: POST /api/v1/write, /api/v2/write and /write (Influx 1.x),
as docs/api-contract.md "Metrics (issue 4/5)" and src/metrics/lineproto.h describe them.
Every stored sample is checked through the query API."""
import gzip
import time

import pytest

from conftest import ADMIN_TOKEN, GENERIC_KEY, RESPONDER_TOKEN, VIEWER_TOKEN
from metrics_util import (METRICS_KEY, api, instant, lp_write, lp_write_ok, metrics_config,
                          one_value, vector_values)

WRITE_PATHS = ["/api/v1/write", "/api/v2/write", "/write"]


@pytest.fixture
def mt(tocsin_factory):
    return tocsin_factory(metrics_config())


def now_s():
    return int(time.time())


def labels_of(result_item):
    m = dict(result_item["metric"])
    return m


# --- precision ----------------------------------------------------------------------------
@pytest.mark.parametrize("precision,mul,frac", [
    ("s", 1, ""), ("ms", 1000, "123"), ("us", 10**6, "123456"), ("ns", 10**9, "123456789"),
])
def test_precision(mt, precision, mul, frac):
    base = now_s() - 600
    ts = str(base) + frac if frac else str(base)
    lp_write_ok(mt, f"prec_test,p={precision} value=7 {ts}\n", precision=precision)
    v, item = one_value(mt, f'timestamp(prec_test{{p="{precision}"}})', at=base + 5)
    # Stored in milliseconds: us and ns are cut to the millisecond.
    want = base + (int(frac[:3]) / 1000.0 if frac else 0.0)
    assert abs(v - want) < 1e-6, (v, want)
    assert one_value(mt, f'prec_test{{p="{precision}"}}', at=base + 5)[0] == 7.0


def test_default_precision_is_ns(mt):
    base = now_s() - 600
    lp_write_ok(mt, f"prec_default value=3 {base}000000000\n")
    v, _ = one_value(mt, "timestamp(prec_default)", at=base + 1)
    assert v == float(base)


def test_precision_on_v1_and_v2_spellings(mt):
    base = now_s() - 600
    lp_write_ok(mt, f"prec_v2,p=v2 value=1 {base}000\n", path="/api/v2/write", precision="ms",
                org="o", bucket="b")
    lp_write_ok(mt, f"prec_v1,p=v1 value=1 {base}\n", path="/write", db="x", precision="s")
    assert one_value(mt, "timestamp(prec_v2)", at=base + 1)[0] == float(base)
    assert one_value(mt, "timestamp(prec_v1)", at=base + 1)[0] == float(base)


def test_unknown_precision_is_rejected(mt):
    r = lp_write(mt, "bad_prec value=1 1\n", precision="fortnight")
    assert r.status_code == 400, r.text


def test_missing_timestamp_means_now(mt):
    before = time.time()
    lp_write_ok(mt, "no_ts,host=a value=42\n")
    after = time.time()
    v, _ = one_value(mt, "timestamp(no_ts)", at=after + 1)
    assert before - 1 <= v <= after + 1, (before, v, after)
    assert one_value(mt, "no_ts", at=after + 1)[0] == 42.0


# --- fields and names ---------------------------------------------------------------------
def test_multiple_fields_and_value_field(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"multi,host=a x=1,y=2.5,value=3 {ts}\n", precision="s")
    got = vector_values(instant(mt, '{__name__=~"multi.*"}', at=ts + 1))
    assert got == {
        frozenset({"__name__": "multi_x", "host": "a"}.items()): 1.0,
        frozenset({"__name__": "multi_y", "host": "a"}.items()): 2.5,
        frozenset({"__name__": "multi", "host": "a"}.items()): 3.0,
    }, got


def test_bool_integer_unsigned_and_float_fields(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"types,host=a bt=true,bT=T,bf=false,bF=F,i=42i,neg=-7i,u=7u,f=1.5,e=1e3 {ts}\n",
                precision="s")
    got = {dict(k)["__name__"]: v for k, v in
           vector_values(instant(mt, '{__name__=~"types_.*"}', at=ts + 1)).items()}
    assert got == {"types_bt": 1.0, "types_bT": 1.0, "types_bf": 0.0, "types_bF": 0.0,
                   "types_i": 42.0, "types_neg": -7.0, "types_u": 7.0, "types_f": 1.5,
                   "types_e": 1000.0}, got


def test_float_values_round_trip_exactly(mt):
    ts = now_s() - 300
    vals = [0.1, 1 / 3, 2.718281828459045, 1e-300, 123456789.123456789, -0.000123]
    body = "".join(f"exact,i={i} value={v!r} {ts}\n" for i, v in enumerate(vals))
    lp_write_ok(mt, body, precision="s")
    got = vector_values(instant(mt, "exact", at=ts + 1))
    for i, v in enumerate(vals):
        assert got[frozenset({"__name__": "exact", "i": str(i)}.items())] == v


def test_escaped_measurement_tags_and_values(mt):
    ts = now_s() - 300
    line = f"esc\\ me\\,as,tag\\ key=va\\,l\\=ue\\ x,plain=p value=1 {ts}\n"
    lp_write_ok(mt, line, precision="s")
    d = instant(mt, '{__name__="esc_me_as"}', at=ts + 1)
    assert len(d["result"]) == 1, d
    # Names are sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*; label values are kept as they were.
    assert labels_of(d["result"][0]) == {"__name__": "esc_me_as", "tag_key": "va,l=ue x",
                                         "plain": "p"}


def test_comments_and_blank_lines_are_skipped(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"# a comment\n\ncomment_ok value=1 {ts}\n\n", precision="s")
    assert one_value(mt, "comment_ok", at=ts + 1)[0] == 1.0


def test_string_field_is_reported_not_stored(mt):
    ts = now_s() - 300
    # A numeric field beside the string is stored; the string is not a sample.
    r = lp_write(mt, f"strf,host=a msg=\"hello, world\",n=5 {ts}\n", precision="s")
    assert r.status_code in (204, 400), r.text
    if r.status_code == 400:
        assert "string" in r.text.lower(), r.text
    assert one_value(mt, "strf_n", at=ts + 1)[0] == 5.0
    assert instant(mt, '{__name__=~"strf_msg.*"}', at=ts + 1)["result"] == []
    # A line with nothing but a string stores nothing, and says so with its line number.
    r = lp_write(mt, f"stronly,host=a msg=\"x\" {ts}\n", precision="s")
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["line"] == 1 and "string" in body["message"].lower(), body


# --- partial writes and errors -------------------------------------------------------------
def test_partial_write_reports_lines_and_keeps_good_ones(mt):
    ts = now_s() - 300
    body = (f"partial,n=1 value=1 {ts}\n"
            f"partial,n=2 value=2 {ts}\n"
            f"this line is not line protocol\n"
            f"partial,n=4 value=4 {ts}\n"
            f"partial,n=5 value=5 {ts}\n")
    r = lp_write(mt, body, precision="s")
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["code"] == "invalid", j
    assert j["message"].startswith("partial write: line 3"), j
    assert j["line"] == 3, j
    assert j["stored"] == 4 and j["rejected"] == 1, j
    assert [e["line"] for e in j["errors"]] == [3], j
    assert isinstance(j["errors"][0]["message"], str) and j["errors"][0]["message"]
    got = vector_values(instant(mt, "partial", at=ts + 1))
    assert sorted(got.values()) == [1.0, 2.0, 4.0, 5.0], got


def test_partial_write_many_errors_listed_at_most_100(mt):
    ts = now_s() - 300
    body = "".join("garbage line %d\n" % i for i in range(150)) + f"after_garbage value=1 {ts}\n"
    r = lp_write(mt, body, precision="s")
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["rejected"] == 150 and j["stored"] == 1, {k: j[k] for k in ("rejected", "stored")}
    assert len(j["errors"]) == 100, len(j["errors"])
    assert [e["line"] for e in j["errors"]] == list(range(1, 101))
    assert one_value(mt, "after_garbage", at=ts + 1)[0] == 1.0


def test_v1_write_error_shape(mt):
    ts = now_s() - 300
    r = lp_write(mt, f"v1err value=1 {ts}\nbroken\n", path="/write", precision="s", db="x")
    assert r.status_code == 400, r.text
    j = r.json()
    assert set(j) >= {"error"} and j["error"].startswith("partial write: line 2"), j
    assert one_value(mt, "v1err", at=ts + 1)[0] == 1.0


def test_v2_write_error_shape(mt):
    ts = now_s() - 300
    r = lp_write(mt, f"v2err value=1 {ts}\nbroken\n", path="/api/v2/write", precision="s",
                 org="o", bucket="b")
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["code"] == "invalid" and j["line"] == 2, j


def test_out_of_order_sample_rejected_with_line_number(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"ooo,host=a value=1 {ts}\n", precision="s")
    r = lp_write(mt, f"ooo,host=b value=1 {ts - 10}\nooo,host=a value=2 {ts - 10}\n", precision="s")
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["line"] == 2 and [e["line"] for e in j["errors"]] == [2], j
    assert j["stored"] == 1 and j["rejected"] == 1, j
    # The older sample did not replace the newer one; the other series was stored.
    assert one_value(mt, 'ooo{host="a"}', at=ts + 1)[0] == 1.0
    assert one_value(mt, 'ooo{host="b"}', at=ts - 9)[0] == 1.0


def test_same_timestamp_same_value_is_a_harmless_retry(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"retry,host=a value=1.5 {ts}\n", precision="s")
    lp_write_ok(mt, f"retry,host=a value=1.5 {ts}\n", precision="s")
    r = lp_write(mt, f"retry,host=a value=2.5 {ts}\n", precision="s")
    assert r.status_code == 400 and r.json()["line"] == 1, r.text
    assert one_value(mt, "retry", at=ts + 1)[0] == 1.5


@pytest.mark.parametrize("body", [b"", b"\n\n", b"# only a comment\n"])
def test_empty_body(mt, body):
    # Every line (there is none) was stored.
    r = lp_write(mt, body)
    assert r.status_code == 204, r.text


# --- auth, size, encoding ------------------------------------------------------------------
@pytest.mark.parametrize("path", WRITE_PATHS)
def test_auth(mt, path):
    ts = now_s() - 300
    line = f"auth_t,path={path.strip('/').replace('/', '_')} value=1 {ts}\n"
    assert lp_write(mt, line, path=path, token=None, precision="s").status_code == 401
    assert lp_write(mt, line, path=path, token="no-such-token", precision="s").status_code == 401
    assert lp_write(mt, line, path=path, token=VIEWER_TOKEN, precision="s").status_code == 403
    r = lp_write(mt, line, path=path, token=GENERIC_KEY, precision="s")
    assert r.status_code in (401, 403), r.text
    lp_write_ok(mt, line, path=path, token=RESPONDER_TOKEN, precision="s")
    lp_write_ok(mt, line, path=path, token=ADMIN_TOKEN, precision="s")
    lp_write_ok(mt, line, path=path, token=METRICS_KEY, precision="s")


def test_metrics_key_in_every_form(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"keyform,f=token value=1 {ts}\n", token=None, precision="s",
                headers={"Authorization": f"Token {METRICS_KEY}"}, path="/api/v2/write")
    r = mt.http.post(mt.url + "/write", params={"precision": "s", "db": "x"},
                     auth=("telegraf", METRICS_KEY), data=f"keyform,f=basic value=1 {ts}\n",
                     timeout=15)
    assert r.status_code == 204, r.text
    lp_write_ok(mt, f"keyform,f=p value=1 {ts}\n", path="/write", token=None, precision="s",
                p=METRICS_KEY, db="x", u="telegraf")
    r = mt.http.post(mt.url + "/api/v1/write", params={"precision": "s", "token": METRICS_KEY},
                     data=f"keyform,f=qtoken value=1 {ts}\n", timeout=15)
    assert r.status_code == 204, r.text
    got = {dict(k)["f"] for k in vector_values(instant(mt, "keyform", at=ts + 1))}
    assert got == {"token", "basic", "p", "qtoken"}, got


def test_queries_need_a_token(mt):
    st, _ = api(mt, "/api/v1/query", token=None, query="up")
    assert st == 401
    st, body = api(mt, "/api/v1/query", token=VIEWER_TOKEN, query="vector(1)")
    assert st == 200 and body["status"] == "success", body


def test_body_too_large(tocsin_factory):
    t = tocsin_factory(metrics_config(max_write_bytes=4096))
    ts = now_s() - 300
    small = f"size_ok value=1 {ts}\n"
    lp_write_ok(t, small, precision="s")
    big = "".join(f"size_big,i={i} value=1 {ts}\n" for i in range(400))
    assert len(big) > 4096
    r = lp_write(t, big, precision="s")
    assert r.status_code == 413, r.text
    assert instant(t, "size_big", at=ts + 1)["result"] == []


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_gzip_is_unsupported_media_type(mt, path):
    ts = now_s() - 300
    body = gzip.compress(f"gz value=1 {ts}\n".encode())
    r = lp_write(mt, body, path=path, precision="s", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 415, r.text
    assert instant(mt, "gz", at=ts + 1)["result"] == []


def test_identity_encoding_is_fine(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"ident value=1 {ts}\n", precision="s", headers={"Content-Encoding": "identity"})


def test_written_series_show_in_series_and_labels(mt):
    ts = now_s() - 300
    lp_write_ok(mt, f"lbl_test,dc=x,host=h1 value=1 {ts}\nlbl_test,dc=y,host=h2 value=2 {ts}\n",
                precision="s")
    st, body = api(mt, "/api/v1/series", **{"match[]": "lbl_test", "start": str(ts - 60),
                                            "end": str(ts + 60)})
    assert st == 200, body
    assert sorted(body["data"], key=lambda m: m["host"]) == [
        {"__name__": "lbl_test", "dc": "x", "host": "h1"},
        {"__name__": "lbl_test", "dc": "y", "host": "h2"}]
    st, body = api(mt, "/api/v1/label/dc/values", **{"match[]": "lbl_test"})
    assert st == 200 and body["data"] == ["x", "y"], body
