// The mocar Android demo app: photo -> LiteRT model -> top-5, prediction set, year interval,
// nearest reference objects; plus an on-device benchmark that writes `mocar bench` rows.
// Everything that is not UI (pre/post-processing, metadata, reference search) lives in `:core`.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "org.mocar.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.mocar.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // Written into every benchmark row, so on-device numbers say which runtime produced them.
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
        // `:core` is Java 17 code written for a desktop JDK; desugaring keeps its java.util/java.time
        // calls working down to minSdk 26.
        isCoreLibraryDesugaringEnabled = true
    }
    kotlinOptions {
        jvmTarget = "17"
    }

    buildFeatures {
        buildConfig = true
    }

    androidResources {
        // Models and the index's raw arrays are memory-mapped straight from the APK: keep them stored.
        noCompress += listOf("tflite", "bin")
    }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.appcompat)
    implementation(libs.material)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.androidx.lifecycle.viewmodel.ktx)
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.androidx.exifinterface)

    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)

    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)

    coreLibraryDesugaring(libs.desugar.jdk.libs)

    testImplementation(libs.junit)
}

// The models and the reference index are not committed: `mocar export --android-assets` writes them
// into src/main/assets. Fail the build early, with the command to run, when they are missing.
val mocarAssetsDir = layout.projectDirectory.dir("src/main/assets").asFile
val checkMocarAssets by tasks.registering {
    group = "verification"
    description = "Checks that `mocar export --android-assets` has filled src/main/assets."
    val assetsDir = mocarAssetsDir
    doLast {
        val models = assetsDir.listFiles { file -> file.name.endsWith(".tflite") }.orEmpty()
        if (models.isEmpty()) {
            throw GradleException(
                "No .tflite model in $assetsDir. From the repository root run:\n" +
                    "  mocar export --run runs/demo/run --out runs/demo/export --android-assets android_demo/app/src/main/assets\n" +
                    "(see android_demo/README.md), then build again."
            )
        }
        if (!assetsDir.resolve("reference_index/index.json").isFile) {
            logger.warn("mocar: no reference_index/ in $assetsDir; the app will run without similar objects.")
        }
        logger.lifecycle("mocar: bundling ${models.size} model(s): ${models.joinToString { it.name }}")
    }
}
tasks.matching { it.name.startsWith("merge") && it.name.endsWith("Assets") && !it.name.contains("Test") }
    .configureEach { dependsOn(checkMocarAssets) }
