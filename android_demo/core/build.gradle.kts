// The plain-JVM core shared by the app: preprocessing, post-processing, reference search, metadata.
// No Android and no third-party runtime dependencies, so it builds and tests on any JDK 17
// (here without Gradle: run_tests.sh, called by tests/test_android_core.py).
plugins {
    `java-library`
}

java {
    toolchain {
        languageVersion.set(JavaLanguageVersion.of(17))
    }
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // Golden vectors written by `mocar export --golden N` (default: the demo export's folder).
    val golden = (project.findProperty("mocar.golden") as String?)
        ?: rootProject.file("../runs/demo/export/golden").absolutePath
    systemProperty("mocar.golden", golden)
    systemProperty("java.awt.headless", "true")
    testLogging {
        events("passed", "skipped", "failed")
        showStandardStreams = true
    }
}
