#!/usr/bin/env python3
"""A second implementation of Mamori's selector derivations, written from docs/protocol.md
alone (Python 3 standard library only), checked against the vectors under vectors/.

    python3 interop/python/mamori_trial.py [--vectors DIR]

Prints per area how many vectors it reproduces, and every mismatch; exit 1 on a mismatch in an
area it claims to implement. Areas it does not implement (phone numbers: libphonenumber is not
in the standard library; internationalized domains: no UTS #46 in the standard library) are
counted as skipped, never as passed."""
import argparse
import hashlib
import json
import os
import re
import sys
import unicodedata

import ristretto255 as r255

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))

# ---------------------------------------------------------------------------------------------
# §1 conventions


def blake2b(message, size, key=b''):
    return hashlib.blake2b(message, digest_size=size, key=key).digest()


def lp(x):
    return len(x).to_bytes(2, 'big') + x


def utf16_length(s):
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


# ECMAScript \s (§6).
ES_SPACE = '\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
ES_SPACE_CLASS = '[' + ''.join('\\u%04x' % ord(c) for c in ES_SPACE) + ']'


def es_trim(s):
    return s.strip(ES_SPACE)


def is_cc(c):
    return unicodedata.category(c) == 'Cc'


def is_cf(c):
    return unicodedata.category(c) == 'Cf'


# Script=Han / Hiragana / Katakana / Latin: the standard library has no Script property, so
# these are the ranges of Unicode's Scripts.txt that matter for Japanese and Latin text (an
# approximation outside them; docs/protocol.md §20).
HAN = [(0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x3005, 0x3005), (0x3007, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
       (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFA6D), (0xFA70, 0xFAD9), (0x20000, 0x2A6DF), (0x2A700, 0x2EE5D), (0x2F800, 0x2FA1D), (0x30000, 0x323AF)]
HIRAGANA = [(0x3041, 0x3096), (0x309D, 0x309F), (0x1B001, 0x1B11F), (0x1B132, 0x1B132), (0x1B150, 0x1B152), (0x1F200, 0x1F200)]
KATAKANA = [(0x30A1, 0x30FA), (0x30FD, 0x30FF), (0x31F0, 0x31FF), (0x32D0, 0x32FE), (0x3300, 0x3357), (0xFF66, 0xFF6F), (0xFF71, 0xFF9D), (0x1AFF0, 0x1B000), (0x1B120, 0x1B122), (0x1B155, 0x1B155), (0x1B164, 0x1B167)]
LATIN = [(0x41, 0x5A), (0x61, 0x7A), (0xAA, 0xAA), (0xBA, 0xBA), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2B8), (0x2E0, 0x2E4), (0x1D00, 0x1D25), (0x1D2C, 0x1D5C),
         (0x1D62, 0x1D65), (0x1D6B, 0x1D77), (0x1D79, 0x1DBE), (0x1E00, 0x1EFF), (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C), (0x212A, 0x212B),
         (0x2132, 0x2132), (0x214E, 0x214E), (0x2160, 0x2188), (0x2C60, 0x2C7F), (0xA722, 0xA787), (0xA78B, 0xA7FF), (0xAB30, 0xAB5A), (0xAB5C, 0xAB64),
         (0xFB00, 0xFB06), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)]


def in_ranges(c, ranges):
    o = ord(c)
    return any(a <= o <= b for a, b in ranges)


def char_class(ranges):
    return '[' + ''.join(('\\U%08x' % a) if a == b else ('\\U%08x-\\U%08x' % (a, b)) for a, b in ranges) + ']'


def is_japanese(c):
    o = ord(c)
    return in_ranges(c, HAN) or in_ranges(c, HIRAGANA) or in_ranges(c, KATAKANA) or 0x3000 <= o <= 0x303F or 0x30A0 <= o <= 0x30FF or 0xFF00 <= o <= 0xFFEF


def has_japanese_script(s):
    return any(in_ranges(c, HAN) or in_ranges(c, HIRAGANA) or in_ranges(c, KATAKANA) for c in s)


# ---------------------------------------------------------------------------------------------
# §3 card numbers

PAN_SEPARATORS = {0x20, 0x09, 0x2D, 0x3000, 0xFF0D, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0x30FC, 0xFF70}


def luhn(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalize_pan(text):
    """(digits, None) or (None, a refusal)."""
    digits = []
    separators = False
    for c in text:
        o = ord(c)
        if 0x30 <= o <= 0x39:
            digits.append(c)
        elif 0xFF10 <= o <= 0xFF19:
            digits.append(chr(o - 0xFF10 + 0x30))
        elif o in PAN_SEPARATORS:
            separators = True
        else:
            return None, 'contains characters other than digits, spaces and dashes'
    d = ''.join(digits)
    if not d:
        return None, 'has no digits' if separators else 'is empty'
    if len(d) < 12:
        return None, 'is too short'
    if len(d) > 19:
        return None, 'is too long'
    if not luhn(d):
        return None, 'fails the Luhn check digit'
    if len(set(d)) == 1:
        return None, 'is degenerate'
    return d, None


def public_test_cards():
    with open(os.path.join(ROOT, 'proto', 'ts', 'test-cards.ts'), encoding='utf-8') as f:
        return set(re.findall(r"'([0-9]{12,19})'", f.read()))


# ---------------------------------------------------------------------------------------------
# §4 keyed selectors

TAGS = {
    'SELECTOR_TYPE_PAN': 'pan',
    'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER': 'merchant.corporate_number',
    'SELECTOR_TYPE_MERCHANT_DOMAIN': 'merchant.domain',
    'SELECTOR_TYPE_MERCHANT_PHONE': 'merchant.phone',
    'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS': 'merchant.name_address',
    'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE': 'merchant.representative',
    'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID': 'merchant.acquirer_mid',
    'SELECTOR_TYPE_BIN': 'bin',
}


def tag_of(selector_type, version=1):
    base = TAGS[selector_type]
    return base if version == 1 else '%s.v%d' % (base, version)


def selector_message(tag, value):
    return b'mamori/v1/' + tag.encode() + b'\x00' + value.encode('utf-8')


def keyed_selector(key, selector_type, value, version=1):
    return blake2b(selector_message(tag_of(selector_type, version), value), 32, key)


# ---------------------------------------------------------------------------------------------
# §6 merchant fields


def normalize_japanese_text(s):
    s = unicodedata.normalize('NFKC', s)
    s = s.lower()
    s = unicodedata.normalize('NFKC', s)
    s = ''.join(c for c in s if not is_cf(c))
    s = tidy_spaces(s)
    if s == '':
        return None, 'is empty'
    if utf16_length(s) > 1024:
        return None, 'is too long'
    return s, None


def tidy_spaces(s):
    out = []
    run = False
    for c in s:
        if c in ES_SPACE or is_cc(c):
            if not run:
                out.append(' ')
            run = True
        else:
            out.append(c)
            run = False
    s = ''.join(out)
    kept = []
    for i, c in enumerate(s):
        if c == ' ' and ((i > 0 and is_japanese(s[i - 1])) or (i + 1 < len(s) and is_japanese(s[i + 1]))):
            continue
        kept.append(c)
    return ''.join(kept).strip(' ')


LEGAL_FORMS_JA = ['特定非営利活動法人', '一般社団法人', '一般財団法人', '公益社団法人', '公益財団法人', '株式会社', '有限会社', '合同会社', '合資会社', '合名会社',
                  'カブシキガイシャ', 'カブシキカイシャ', 'ユウゲンガイシャ', 'ユウゲンカイシャ', 'ゴウドウガイシャ', 'ゴウドウカイシャ']
ABBREVIATIONS = re.compile(r'\((?:株|有|同|資|名)\)')
LATIN_OR_DIGIT = char_class(LATIN + [(0x30, 0x39)])
LATIN_FORMS = re.compile(r'(?<!' + LATIN_OR_DIGIT + r')(?:co[ .,]+ltd\.?|ltd\.?|limited|inc\.?|incorporated|k\. ?k\.?|l\.l\.c\.?|llc\.?|corporation|corp\.?)(?!' + LATIN_OR_DIGIT + r')')
EDGE = '[' + ES_SPACE_CLASS[1:-1] + ',.、。・]+'
EDGE_PUNCTUATION = re.compile('^' + EDGE + '|' + EDGE + '$')


def normalize_name(s):
    t, why = normalize_japanese_text(s)
    if t is None:
        return None, why
    for _ in range(8):
        n = t
        for form in LEGAL_FORMS_JA:
            n = n.replace(form, ' ')
        n = ABBREVIATIONS.sub(' ', n)
        n = LATIN_FORMS.sub(' ', n)
        n = EDGE_PUNCTUATION.sub('', tidy_spaces(n))
        if n == t:
            break
        t = n
    if t == '':
        return None, 'consists only of legal-form words'
    return t, None


def normalize_address_v1(s):
    t, why = normalize_japanese_text(s)
    if t is None:
        return None, why
    t = re.sub('[\u2010-\u2015\u2212\u2043]', '-', t)
    t = re.sub('(?<=[0-9])\u30fc', '-', t)
    t = re.sub(' ?- ?', '-', t)
    return t, None


def normalize_address_v2(s):
    a, why = normalize_address_v1(s)
    if a is None or not has_japanese_script(a):
        return a, why
    v = japanese_address(a)
    return (v, None) if v else (None, 'is empty')


def normalize_corporate_number(s):
    d = re.sub('[' + ES_SPACE_CLASS[1:-1] + '\\-\u2010-\u2015\u2212\u30fc]', '', unicodedata.normalize('NFKC', s))
    if d == '':
        return None, 'is empty'
    if not re.fullmatch('[0-9]+', d):
        return None, 'not digits'
    if len(d) != 13:
        return None, 'not 13 digits'
    base = d[1:]
    total = sum(int(base[12 - n]) * (1 if n % 2 == 1 else 2) for n in range(1, 13))
    if 9 - total % 9 != int(d[0]):
        return None, 'check digit does not match'
    return d, None


def normalize_mid(acquirer, mid):
    if not re.fullmatch('[a-z0-9-]{3,32}', acquirer):
        return None, 'acquirer is not a member id'
    m = es_trim(unicodedata.normalize('NFKC', mid))
    if m == '':
        return None, 'merchant id is empty'
    if any(is_cc(c) or is_cf(c) for c in m):
        return None, 'control or format characters'
    if utf16_length(m) > 64:
        return None, 'too long'
    return acquirer + ':' + m, None


LDH = re.compile('^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$')


class NotReproduced(Exception):
    pass


def normalize_domain(s):
    s = es_trim(unicodedata.normalize('NFKC', s).replace('\u3002', '.').replace('\uff61', '.'))
    s = re.sub('^[a-z][a-z0-9+.-]*://', '', s, flags=re.I)
    s = re.sub('^//', '', s)
    m = re.search(r'[/?#\\]', s)
    if m:
        s = s[:m.start()]
    if '@' in s:
        s = s[s.rindex('@') + 1:]
    if s.startswith('['):
        return None, 'is an IP address'
    s = re.sub(':[0-9]*$', '', s)
    if s == '':
        return None, 'is empty'
    if any(c in ES_SPACE or is_cc(c) for c in s):
        return None, 'whitespace'
    if s.endswith('.'):
        s = s[:-1]
    if any(ord(c) > 0x7F for c in s) or 'xn--' in s.lower():
        # UTS #46 non-transitional mapping and validity: not in the standard library.
        raise NotReproduced('UTS #46')
    ascii_ = s.lower()
    labels = ascii_.split('.')
    if len(labels) < 2:
        return None, 'single label'
    if re.fullmatch('[0-9]+', labels[-1]):
        return None, 'IP address'
    if len(ascii_) > 253:
        return None, 'too long'
    if not all(LDH.match(label) for label in labels):
        return None, 'bad label'
    if ascii_.startswith('www.') and ascii_.find('.', 4) > 0:
        ascii_ = ascii_[4:]
    return ascii_, None


# ---------------------------------------------------------------------------------------------
# §7 Japanese addresses

def load_municipalities():
    with open(os.path.join(ROOT, 'proto', 'ts', 'jp-municipalities.ts'), encoding='utf-8') as f:
        return [(p, names.split('|')) for p, names in re.findall(r'"([^"]+)": "([^"]+)"', f.read())]


HAN_CLASS = char_class(HAN)
KANJI_DIGITS = '〇一二三四五六七八九十百千壱弐参拾'
KE = re.compile('(?<=' + HAN_CLASS + ')[ヶケがガ个箇](?=' + HAN_CLASS + ')')
NO = re.compile('(?<=' + HAN_CLASS + ')ノ(?=' + HAN_CLASS + ')')
KANJI_RUN = re.compile('[' + KANJI_DIGITS + ']+(?=丁目|番地|番(?![町丁])|号|条|線|地割|-|ー|の[' + KANJI_DIGITS + '0-9]|$)')
DIGIT = {c: i for i, c in enumerate('〇一二三四五六七八九')}


def place_form(s):
    return NO.sub('の', KE.sub('ケ', s))


def kanji_value(run):
    r = run.replace('壱', '一').replace('弐', '二').replace('参', '三').replace('拾', '十')
    if '〇' in r or all(c in DIGIT for c in r):
        if any(c not in DIGIT for c in r):
            return run
        return str(int(''.join(str(DIGIT[c]) for c in r)))
    m = re.fullmatch('(?:([一二三四五六七八九]?)千)?(?:([一二三四五六七八九]?)百)?(?:([一二三四五六七八九]?)十)?([一二三四五六七八九]*)', r)
    if not m:
        return run
    total = 0
    for part, mult in zip(m.groups()[:3], (1000, 100, 10)):
        if part is not None:
            total += (DIGIT[part] if part else 1) * mult
    if m.group(4):
        total += int(''.join(str(DIGIT[c]) for c in m.group(4)))
    return str(total)


class Municipalities:
    def __init__(self):
        table = load_municipalities()
        self.prefectures = [place_form(p) for p, _ in table]
        self.names = {}
        self.districts = []
        for prefecture, names in table:
            for raw in names:
                name = place_form(raw)
                district = re.fullmatch('(.+?郡)(.+[町村])', name)
                if district:
                    self.districts.append((name, district.group(2)))
                    self.names.setdefault(district.group(2), set()).add(prefecture)
                    continue
                self.names.setdefault(name, set()).add(prefecture)
                ward = re.fullmatch('(.+?市)(.+区)', name)
                if ward:
                    self.names.setdefault(ward.group(1), set()).add(prefecture)
        self.by_length = sorted(self.names, key=len, reverse=True)

    def locality(self, s):
        s = s.replace('大字', '')
        prefecture = next((p for p in self.prefectures if s.startswith(p)), None)
        rest = s[len(prefecture):] if prefecture else s
        for full, town in self.districts:
            if rest.startswith(full):
                rest = town + rest[len(full):]
                break
        municipality = next((n for n in self.by_length if rest.startswith(n)), None)
        owners = self.names.get(municipality) if municipality else None
        if prefecture and owners == {prefecture}:
            return rest
        return (prefecture or '') + rest


MUNICIPALITIES = None


def japanese_address(text):
    global MUNICIPALITIES
    if MUNICIPALITIES is None:
        MUNICIPALITIES = Municipalities()
    s = re.sub('^〒?' + ES_SPACE_CLASS + '*[0-9]{3}-?[0-9]{4}' + ES_SPACE_CLASS + '*', '', text)
    s = re.sub('[\u2010-\u2015\u2212\u2043\u2500\u2501\ufe63\uff0d]', '-', s)
    s = place_form(s)
    s = KANJI_RUN.sub(lambda m: kanji_value(m.group(0)), s)
    s = re.sub('(?<=[0-9])丁目', '-', s)
    s = re.sub('(?<=[0-9])番地の?', '-', s)
    s = re.sub('(?<=[0-9])番(?![町丁])', '-', s)
    s = re.sub('(?<=[0-9])号(?![室館棟])', '', s)
    s = re.sub('(?<=[0-9])[のノーｰ](?=[0-9])', '-', s)
    s = re.sub(' ?- ?', '-', s)
    s = re.sub('-{2,}', '-', s)
    for m in re.finditer('[0-9]+(?:-[0-9]+)*-?', s):
        if re.match('(?:条|線|地割|丁(?!目)|町|区|通|軒)', s[m.end():]):
            continue
        house = '-'.join([p for p in m.group(0).split('-') if p][:3])
        locality = re.sub('[' + ES_SPACE_CLASS[1:-1] + '-]+$', '', s[:m.start()])
        return MUNICIPALITIES.locality(locality) + house
    return MUNICIPALITIES.locality(re.sub('-$', '', s))


# ---------------------------------------------------------------------------------------------
# §8 oblivious PAN selectors

C = b'mamori-tprf-v1-ristretto255-SHA512'


def expand_message_xmd(msg, dst, length):
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + length.to_bytes(2, 'big') + b'\x00' + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b'\x01' + dst_prime).digest()]
    while len(blocks) * 64 < length:
        prev = blocks[-1]
        blocks.append(hashlib.sha512(bytes(a ^ b for a, b in zip(b0, prev)) + bytes([len(blocks) + 1]) + dst_prime).digest())
    return b''.join(blocks)[:length]


def hash_to_group(pan):
    return r255.from_uniform_bytes(expand_message_xmd(pan.encode(), b'HashToGroup-' + C, 64))


def seed_commitment(set_id, label, seed):
    return blake2b(C + b'/seed-commitment\x00' + lp(set_id.encode()) + lp(label.encode()) + seed, 32).hex()


def prf(set_id, label, seed, bin_):
    return int.from_bytes(blake2b(C + b'/bin-key\x00' + lp(set_id.encode()) + lp(label.encode()) + lp(bin_.encode()), 64, seed), 'little') % r255.L


def finalize(pan, bin_, n_bytes):
    return hashlib.sha512(lp(pan.encode()) + lp(bin_.encode()) + lp(n_bytes) + b'Finalize').digest()


def lagrange_at_zero(xs):
    out = []
    for i in xs:
        num, den = 1, 1
        for j in xs:
            if j != i:
                num = num * (0 - j) % r255.L
                den = den * (i - j) % r255.L
        out.append(num * pow(den, r255.L - 2, r255.L) % r255.L)
    return out


# ---------------------------------------------------------------------------------------------
# The trial

class Tally:
    def __init__(self):
        self.areas = {}
        self.mismatches = []

    def count(self, area, outcome, detail=None):
        counts = self.areas.setdefault(area, {'reproduced': 0, 'mismatch': 0, 'skipped': 0})
        counts[outcome] += 1
        if outcome == 'mismatch':
            self.mismatches.append('%s: %s' % (area, detail))

    def check(self, area, case_id, expected, actual):
        if expected == actual:
            self.count(area, 'reproduced')
        else:
            self.count(area, 'mismatch', '%s: expected %r, got %r' % (case_id, expected, actual))


def read(vectors, name):
    with open(os.path.join(vectors, name), encoding='utf-8') as f:
        return json.load(f)


def trial_pan(vectors, tally):
    f = read(vectors, 'pan-normalization.json')
    key = bytes.fromhex(f['fixtures']['selectorKey'])
    test_cards = public_test_cards()
    for c in f['cases']:
        digits, _ = normalize_pan(c['input'])
        expected = c['expected']
        if expected['ok']:
            actual = {'ok': digits is not None, 'digits': digits, 'selector': keyed_selector(key, 'SELECTOR_TYPE_PAN', digits).hex() if digits else None}
            tally.check('PAN normalization + keyed selector', c['id'], {'ok': True, 'digits': expected['digits'], 'selector': expected['selector']}, actual)
            tally.check('PAN publishable (test cards)', c['id'], c['publishable']['ok'], digits not in test_cards)
        else:
            tally.check('PAN normalization + keyed selector', c['id'], False, digits is not None)


def trial_keyed(vectors, tally):
    f = read(vectors, 'keyed-selectors.json')
    key = bytes.fromhex(f['fixtures']['selectorKey'])
    for c in f['cases']:
        tag = 'selector-cache' if c['type'] == 'selector-cache' else tag_of(c['type'], c['version'])
        message = selector_message(tag, c['value'])
        tally.check('keyed selectors (tag, message, digest)', c['id'], (c['tag'], c['message'], c['digest']), (tag, message.hex(), blake2b(message, 32, key).hex()))


FIELD_TYPES = {'corporateNumber': 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', 'domain': 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'nameAddress': 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS',
               'representative': 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE', 'acquirerMid': 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID'}


def merchant_value(c):
    field, value = c['field'], c['input']
    if field == 'name':
        return normalize_name(value)
    if field == 'address':
        return normalize_address_v2(value) if c['version'] == 2 else normalize_address_v1(value)
    if field == 'nameAddress':
        n, why = normalize_name(value['name'])
        if n is None:
            return None, 'name ' + why
        a, why = (normalize_address_v2 if c['version'] == 2 else normalize_address_v1)(value['address'])
        if a is None:
            return None, 'address ' + why
        return n + '\n' + a, None
    if field == 'representative':
        return normalize_japanese_text(value)
    if field == 'corporateNumber':
        return normalize_corporate_number(value)
    if field == 'acquirerMid':
        return normalize_mid(value['acquirer'], value['mid'])
    if field == 'domain':
        return normalize_domain(value)
    raise NotReproduced(field)


def trial_merchants(vectors, tally):
    f = read(vectors, 'merchant-normalization.json')
    key = bytes.fromhex(f['fixtures']['selectorKey'])
    for c in f['cases']:
        area = 'merchant %s' % c['field']
        try:
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in json.dumps(c['input'], ensure_ascii=False)):
                raise NotReproduced('a lone surrogate cannot be a Python str read from UTF-8 input')
            value, _ = merchant_value(c)
        except NotReproduced:
            tally.count(area, 'skipped')
            continue
        expected = c['expected']
        if not expected['ok']:
            tally.check(area, c['id'], 'refused', 'refused' if value is None else value)
            continue
        actual = value
        if expected.get('selector') and value is not None:
            actual = (value, keyed_selector(key, FIELD_TYPES[c['field']], value, c['version']).hex())
            tally.check(area, c['id'], (expected['value'], expected['selector']['digest']), actual)
        else:
            tally.check(area, c['id'], expected['value'], actual)


def trial_addresses(vectors, tally):
    f = read(vectors, 'japanese-addresses.json')
    key = bytes.fromhex(read(vectors, 'merchant-normalization.json')['fixtures']['selectorKey'])
    for c in f['cases']:
        v1, _ = normalize_address_v1(c['input'])
        v2, _ = normalize_address_v2(c['input'])
        tally.check('Japanese addresses v1', c['id'], c['v1'], v1)
        digest = keyed_selector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'スマイル\n' + (v2 or ''), 2).hex()
        tally.check('Japanese addresses v2 + name+address selector', c['id'], (c['v2'], c['nameAddressV2']), (v2, digest))


def trial_oblivious(vectors, tally):
    f = read(vectors, 'oblivious-pan-selectors.json')
    fx = f['fixtures']
    set_id = fx['setId']
    seeds = {s['label']: bytes.fromhex(s['seed']) for s in fx['seeds']}
    for s in fx['seeds']:
        tally.check('oblivious: seed commitments', s['label'], s['commitment'], seed_commitment(set_id, s['label'], seeds[s['label']]))
    area = 'oblivious: blind, evaluate, combine, unblind, finalize'
    for c in f['cases']:
        pan, bin_ = c['pan'], c['pan'][:c['binDigits']]
        uniform = expand_message_xmd(pan.encode(), fx['hashToGroupDst'].encode(), 64)
        point = r255.from_uniform_bytes(uniform)
        blind = r255.scalar(bytes.fromhex(c['blind']))
        blinded = r255.mul(blind, point)
        parts = {label: prf(set_id, label, seed, bin_) for label, seed in seeds.items()}
        kb = sum(parts.values()) % r255.L
        got = {'bin': bin_, 'uniformBytes': uniform.hex(), 'inputElement': r255.encode(point), 'blindedElement': r255.encode(blinded),
               'seedScalars': {k: r255.scalar_bytes(v).hex() for k, v in parts.items()}, 'binKey': r255.scalar_bytes(kb).hex()}
        got['inputElement'] = got['inputElement'].hex()
        got['blindedElement'] = got['blindedElement'].hex()
        want = {k: c[k] for k in got}
        tally.check(area, c['id'] + ' (blinding, per-BIN key)', want, got)
        blinded_point = r255.decode(bytes.fromhex(c['blindedElement']))
        for mode in ('replicatedMinimal', 'replicatedVerified'):
            combined = r255.IDENTITY
            seen = set()
            for answer in c[mode]['answers']:
                for group, element in zip(answer['groups'], answer['elements']):
                    own = r255.encode(r255.mul(sum(parts[label] for label in group), blinded_point)).hex()
                    tally.check(area, '%s %s answer of %s' % (c['id'], mode, answer['evaluator']), element, own)
                    if tuple(group) not in seen:
                        seen.add(tuple(group))
                        combined = r255.add(combined, r255.decode(bytes.fromhex(element)))
            tally.check(area, '%s %s combined' % (c['id'], mode), c[mode]['combined'], r255.encode(combined).hex())
        unblinded = r255.mul(pow(blind, r255.L - 2, r255.L), r255.decode(bytes.fromhex(c['replicatedMinimal']['combined'])))
        output = finalize(pan, bin_, r255.encode(unblinded))
        tally.check(area, c['id'] + ' unblinded, output, selector', (c['unblinded'], c['output'], c['selector']), (r255.encode(unblinded).hex(), output.hex(), output[:32].hex()))
        direct = finalize(pan, bin_, r255.encode(r255.mul(kb, point)))
        tally.check(area, c['id'] + ' k_b·HashToGroup(pan) directly', c['output'], direct.hex())
        xs = [a['index'] for a in c['shamir']['answers']]
        lambdas = lagrange_at_zero(xs)
        tally.check(area, c['id'] + ' Shamir Lagrange coefficients', c['shamir']['lagrangeAtZero'], [r255.scalar_bytes(x).hex() for x in lambdas])
        z = r255.IDENTITY
        for lam, a in zip(lambdas, c['shamir']['answers']):
            z = r255.add(z, r255.mul(lam, r255.decode(bytes.fromhex(a['element']))))
        n = r255.mul(pow(blind, r255.L - 2, r255.L), z)
        tally.check(area, c['id'] + ' Shamir combination', c['output'], finalize(pan, bin_, r255.encode(n)).hex())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--vectors', default=os.path.join(ROOT, 'vectors'))
    args = parser.parse_args()
    tally = Tally()
    trial_pan(args.vectors, tally)
    trial_keyed(args.vectors, tally)
    trial_merchants(args.vectors, tally)
    trial_addresses(args.vectors, tally)
    trial_oblivious(args.vectors, tally)
    for area, counts in tally.areas.items():
        print('%-55s reproduced %4d  mismatch %3d  skipped %3d' % (area, counts['reproduced'], counts['mismatch'], counts['skipped']))
    for m in tally.mismatches:
        print('MISMATCH ' + m)
    print('total: %d reproduced, %d mismatches, %d skipped' % (
        sum(c['reproduced'] for c in tally.areas.values()), len(tally.mismatches), sum(c['skipped'] for c in tally.areas.values())))
    return 1 if tally.mismatches else 0


if __name__ == '__main__':
    sys.exit(main())
