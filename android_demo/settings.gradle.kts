// The mocar Android demo: `:app` (the Android application) and `:core` (plain JVM library with the
// pre/post-processing and reference search that the repository's `make test` checks against golden
// vectors from the Python side, so the phone computes exactly what the benchmark measured).
pluginManagement {
    repositories {
        google {
            content {
                includeGroupByRegex("com\\.android.*")
                includeGroupByRegex("com\\.google.*")
                includeGroupByRegex("androidx.*")
            }
        }
        mavenCentral()
        gradlePluginPortal()
    }
}

plugins {
    // `:core` asks for a Java 17 toolchain; this lets Gradle fetch one when the IDE runs Gradle on
    // another JDK (Android Studio ships JDK 21).
    id("org.gradle.toolchains.foojay-resolver-convention") version "0.8.0"
}

dependencyResolutionManagement {
    // PREFER_SETTINGS rather than FAIL_ON_PROJECT_REPOS: `:core` is also built on its own (without
    // Android) and may declare mavenCentral() for JUnit; here the settings' repositories win.
    repositoriesMode.set(RepositoriesMode.PREFER_SETTINGS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mocar-android"
include(":app")
include(":core")
