package org.mocar.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void parsesNestedValuesKeepingKeyOrder() {
        Map<String, Object> map = Json.parseObject(
                "{\"z\": 1, \"a\": [true, false, null, -2.5e3, \"x\"], \"m\": {\"0.9\": 0.25, \"0.8\": null}}");
        assertEquals(Arrays.asList("z", "a", "m"), Arrays.asList(map.keySet().toArray()));
        assertEquals(1.0, (Double) map.get("z"), 0.0);
        List<Object> list = Json.list(map, "a");
        assertEquals(Arrays.asList(true, false, null, -2500.0, "x"), list);
        Map<String, Object> levels = Json.obj(map, "m");
        assertEquals(Arrays.asList("0.9", "0.8"), Arrays.asList(levels.keySet().toArray()));
        assertNull(levels.get("0.8"));
    }

    @Test
    public void decodesEscapesAndNonAscii() {
        assertEquals("Münzkabinett \"A\"\n\u00c4 \ud83d\ude00 /",
                Json.parse("\"M\\u00fcnzkabinett \\\"A\\\"\\n\u00c4 \\ud83d\\ude00 \\/\""));
    }

    @Test
    public void readsDoublesExactlyLikePython() {
        // 0.1 + 0.2 written by Python's repr must come back as the same double.
        assertEquals(0.30000000000000004, (Double) Json.parse("0.30000000000000004"), 0.0);
        assertEquals(Double.doubleToLongBits(0.007843137718737125),
                Double.doubleToLongBits((Double) Json.parse("0.007843137718737125")));
        assertTrue(Double.isNaN((Double) Json.parse("NaN")));
        assertEquals(Double.NEGATIVE_INFINITY, (Double) Json.parse("-Infinity"), 0.0);
    }

    @Test
    public void rejectsMalformedTextNamingTheOffset() {
        for (String bad : new String[] {"{\"a\": }", "[1, 2", "{\"a\" 1}", "tru", "\"open", "[1] 2", "{1: 2}"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().contains("offset"));
            }
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void parseObjectRefusesArrays() {
        Json.parseObject("[1, 2]");
    }
}
