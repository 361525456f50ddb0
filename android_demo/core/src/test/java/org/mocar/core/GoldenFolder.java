package org.mocar.core;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One golden folder written by {@code mocar.mobile.golden.write_golden}: golden.json plus raw
 * little-endian arrays. The system property {@code mocar.golden} names a golden folder or a
 * folder of them (one per model file).
 */
final class GoldenFolder {
    static final String PROPERTY = "mocar.golden";

    final Path root;
    final Map<String, Object> json;

    private GoldenFolder(Path root) {
        this.root = root;
        this.json = Json.parseObject(readText(root.resolve("golden.json")));
    }

    /** Every golden folder under the property's path (empty when the property is unset). */
    static List<GoldenFolder> all() {
        String where = System.getProperty(PROPERTY);
        List<GoldenFolder> folders = new ArrayList<>();
        if (where == null || where.isEmpty()) {
            return folders;
        }
        Path base = Paths.get(where);
        if (Files.isRegularFile(base.resolve("golden.json"))) {
            folders.add(new GoldenFolder(base));
            return folders;
        }
        try (Stream<Path> children = Files.list(base)) {
            children.sorted().filter(p -> Files.isRegularFile(p.resolve("golden.json")))
                    .forEach(p -> folders.add(new GoldenFolder(p)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list golden folder " + base, e);
        }
        if (folders.isEmpty()) {
            throw new IllegalStateException(PROPERTY + "=" + base + " holds no golden.json (nor do its sub-folders)");
        }
        return folders;
    }

    String name() {
        return root.getFileName().toString();
    }

    @SuppressWarnings("unchecked")
    List<Map<String, Object>> cases() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object item : Json.list(json, "cases")) {
            out.add((Map<String, Object>) item);
        }
        return out;
    }

    /** The metadata read from the golden copy of the model file (as the app reads its asset). */
    ModelMetadata metadata() {
        return ModelMetadata.fromTflite(ByteBuffer.wrap(modelBytes()));
    }

    byte[] modelBytes() {
        try {
            return Files.readAllBytes(root.resolve(Json.string(json, "model_file")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    ReferenceIndex index() {
        String folder = Json.string(json, "reference_index");
        return folder == null ? null : ReferenceIndex.load(root.resolve(folder));
    }

    byte[] bytes(Map<String, Object> array) {
        try {
            return Files.readAllBytes(root.resolve(Json.string(array, "file")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    float[] floats(Map<String, Object> array) {
        ByteBuffer buffer = ByteBuffer.wrap(bytes(array)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[buffer.remaining() / 4];
        buffer.asFloatBuffer().get(out);
        return out;
    }

    static int[] shape(Map<String, Object> array) {
        List<Object> dims = Json.list(array, "shape");
        int[] out = new int[dims.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Double) dims.get(i)).intValue();
        }
        return out;
    }

    /** An HWC uint8 array as an image. */
    RgbImage image(Map<String, Object> array) {
        int[] shape = shape(array);
        return new RgbImage(shape[1], shape[0], bytes(array));
    }

    Map<String, float[]> outputs(Map<String, Object> goldenCase) {
        Map<String, float[]> outputs = new LinkedHashMap<>();
        Map<String, Object> files = Json.obj(goldenCase, "outputs");
        for (String name : files.keySet()) {
            outputs.put(name, floats(Json.obj(files, name)));
        }
        return outputs;
    }

    static String readText(Path file) {
        try {
            return new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
