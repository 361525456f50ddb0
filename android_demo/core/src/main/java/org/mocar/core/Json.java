package org.mocar.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, strict JSON reader (RFC 8259), so the core needs no third-party library on a phone.
 *
 * <p>Objects become {@link LinkedHashMap}s (key order kept: conformal levels are listed in the
 * order Python wrote them), arrays {@link ArrayList}s, numbers {@link Double}, plus String,
 * Boolean and null. Python's {@code json.dumps} may write {@code NaN}/{@code Infinity}; they are
 * accepted as the matching doubles.
 */
public final class Json {
    private final String text;
    private int pos;

    private Json(String text) {
        this.text = text;
    }

    /**
     * Parses one JSON value.
     *
     * @throws IllegalArgumentException naming the character offset of the first syntax error
     */
    public static Object parse(String text) {
        Json reader = new Json(text);
        Object value = reader.value();
        reader.skipSpace();
        if (reader.pos != text.length()) {
            throw reader.error("unexpected trailing text");
        }
        return value;
    }

    /** Parses a JSON object (the usual top level), failing clearly on anything else. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text) {
        Object value = parse(text);
        if (!(value instanceof Map)) {
            throw new IllegalArgumentException("expected a JSON object, got " + typeName(value));
        }
        return (Map<String, Object>) value;
    }

    static String typeName(Object value) {
        return value == null ? "null" : value.getClass().getSimpleName();
    }

    private IllegalArgumentException error(String what) {
        int from = Math.max(0, pos - 20);
        int to = Math.min(text.length(), pos + 20);
        return new IllegalArgumentException(
                "JSON: " + what + " at offset " + pos + " near '" + text.substring(from, to) + "'");
    }

    private void skipSpace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                return;
            }
            pos++;
        }
    }

    private Object value() {
        skipSpace();
        if (pos >= text.length()) {
            throw error("unexpected end of input");
        }
        char c = text.charAt(pos);
        switch (c) {
            case '{':
                return object();
            case '[':
                return array();
            case '"':
                return string();
            case 't':
                return literal("true", Boolean.TRUE);
            case 'f':
                return literal("false", Boolean.FALSE);
            case 'n':
                return literal("null", null);
            case 'N':
                return literal("NaN", Double.NaN);
            case 'I':
                return literal("Infinity", Double.POSITIVE_INFINITY);
            default:
                return number();
        }
    }

    private Object literal(String word, Object result) {
        if (!text.startsWith(word, pos)) {
            throw error("unknown literal");
        }
        pos += word.length();
        return result;
    }

    private Map<String, Object> object() {
        Map<String, Object> map = new LinkedHashMap<>();
        pos++; // '{'
        skipSpace();
        if (peek('}')) {
            return map;
        }
        while (true) {
            skipSpace();
            if (pos >= text.length() || text.charAt(pos) != '"') {
                throw error("expected a string key");
            }
            String key = string();
            skipSpace();
            expect(':');
            map.put(key, value());
            skipSpace();
            if (peek('}')) {
                return map;
            }
            expect(',');
        }
    }

    private List<Object> array() {
        List<Object> list = new ArrayList<>();
        pos++; // '['
        skipSpace();
        if (peek(']')) {
            return list;
        }
        while (true) {
            list.add(value());
            skipSpace();
            if (peek(']')) {
                return list;
            }
            expect(',');
        }
    }

    private boolean peek(char c) {
        if (pos < text.length() && text.charAt(pos) == c) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(char c) {
        if (!peek(c)) {
            throw error("expected '" + c + "'");
        }
    }

    private String string() {
        pos++; // opening quote
        StringBuilder out = new StringBuilder();
        while (true) {
            if (pos >= text.length()) {
                throw error("unterminated string");
            }
            char c = text.charAt(pos++);
            if (c == '"') {
                return out.toString();
            }
            if (c == '\\') {
                out.append(escape());
            } else if (c < 0x20) {
                throw error("control character in string");
            } else {
                out.append(c);
            }
        }
    }

    private char escape() {
        if (pos >= text.length()) {
            throw error("unterminated escape");
        }
        char c = text.charAt(pos++);
        switch (c) {
            case '"': return '"';
            case '\\': return '\\';
            case '/': return '/';
            case 'b': return '\b';
            case 'f': return '\f';
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case 'u':
                if (pos + 4 > text.length()) {
                    throw error("short \\u escape");
                }
                try {
                    char unit = (char) Integer.parseInt(text.substring(pos, pos + 4), 16);
                    pos += 4;
                    return unit; // surrogate pairs arrive as two escapes and join in the StringBuilder
                } catch (NumberFormatException e) {
                    throw error("bad \\u escape");
                }
            default:
                throw error("unknown escape \\" + c);
        }
    }

    private Double number() {
        int start = pos;
        if (peek('-') && text.startsWith("Infinity", pos)) {
            pos += "Infinity".length();
            return Double.NEGATIVE_INFINITY;
        }
        while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
        if (start == pos) {
            throw error("unexpected character");
        }
        try {
            // Double.parseDouble rounds correctly, like Python's float(): the same double both sides.
            return Double.parseDouble(text.substring(start, pos));
        } catch (NumberFormatException e) {
            pos = start;
            throw error("bad number");
        }
    }

    /** Small typed accessors for parsed trees; each fails naming the key and what it found. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Map<String, Object> map, String key) {
        Object value = map.get(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof Map)) {
            throw new IllegalArgumentException("'" + key + "' should be an object, is " + typeName(value));
        }
        return (Map<String, Object>) value;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Map<String, Object> map, String key) {
        Object value = map.get(key);
        if (value == null) {
            return null;
        }
        if (!(value instanceof List)) {
            throw new IllegalArgumentException("'" + key + "' should be an array, is " + typeName(value));
        }
        return (List<Object>) value;
    }

    static Double number(Map<String, Object> map, String key) {
        Object value = map.get(key);
        if (value != null && !(value instanceof Double)) {
            throw new IllegalArgumentException("'" + key + "' should be a number, is " + typeName(value));
        }
        return (Double) value;
    }

    static String string(Map<String, Object> map, String key) {
        Object value = map.get(key);
        if (value != null && !(value instanceof String)) {
            throw new IllegalArgumentException("'" + key + "' should be a string, is " + typeName(value));
        }
        return (String) value;
    }

    static Map<String, Object> require(Map<String, Object> map, String key, String where) {
        Map<String, Object> value = obj(map, key);
        if (value == null) {
            throw new IllegalArgumentException(where + ": missing object '" + key + "'");
        }
        return value;
    }

    static List<String> strings(List<Object> values) {
        List<String> out = new ArrayList<>();
        for (Object v : values) {
            out.add((String) v);
        }
        return Collections.unmodifiableList(out);
    }
}
