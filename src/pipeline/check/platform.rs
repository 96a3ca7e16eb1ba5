//! Wheel platform tags PyPI accepts. Warehouse refuses uploads whose
//! platform tag is not one of these (`linux_x86_64` being the usual one: a
//! wheel built on one distro that only claims "some Linux"). The rules
//! follow warehouse's `_valid_platform_tag` as of 2026: a static list, then
//! macOS, manylinux/musllinux, iOS, Android and Pyodide (pyemscripten).

const STATIC: &[&str] = &[
    "any",
    "win32",
    "win_arm64",
    "win_amd64",
    "win_ia64",
    "manylinux1_x86_64",
    "manylinux1_i686",
    "manylinux2010_x86_64",
    "manylinux2010_i686",
    "manylinux2014_x86_64",
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    // piwheels-built ARM wheels are accepted as they are.
    "linux_armv6l",
    "linux_armv7l",
];

const MACOS_ARCHES: &[&str] = &[
    "ppc",
    "ppc64",
    "i386",
    "x86_64",
    "arm64",
    "intel",
    "fat",
    "fat3",
    "fat64",
    "universal",
    "universal2",
];
/// macOS 11+ wheels are tagged `macosx_{major}_0_{arch}`; 10.x kept the minor.
const MACOS_MAJORS: &[&str] = &["11", "12", "13", "14", "15", "26"];
const LINUX_ARCHES: &[&str] = &[
    "x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64",
];
const IOS_ARCHES: &[&str] = &["arm64", "x86_64"];
const ANDROID_ARCHES: &[&str] = &["armeabi_v7a", "arm64_v8a", "x86", "x86_64"];

fn number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `{major}_{minor}_{rest}` with two numbers.
fn two_numbers(text: &str) -> Option<(&str, &str, &str)> {
    let (major, rest) = text.split_once('_')?;
    let (minor, rest) = rest.split_once('_')?;
    (number(major) && number(minor)).then_some((major, minor, rest))
}

/// Whether PyPI accepts one platform tag (a compressed tag set like
/// `manylinux_2_17_x86_64.manylinux2014_x86_64` is split by the caller).
pub fn accepted(tag: &str) -> bool {
    if STATIC.contains(&tag) {
        return true;
    }
    if let Some(rest) = tag.strip_prefix("macosx_") {
        return two_numbers(rest).is_some_and(|(major, minor, arch)| {
            MACOS_ARCHES.contains(&arch)
                && (major == "10" || (MACOS_MAJORS.contains(&major) && minor == "0"))
        });
    }
    if let Some(rest) = tag.strip_prefix("manylinux_") {
        return two_numbers(rest)
            .is_some_and(|(_, _, arch)| LINUX_ARCHES.contains(&arch) || arch == "ppc64");
    }
    if let Some(rest) = tag.strip_prefix("musllinux_") {
        return two_numbers(rest).is_some_and(|(_, _, arch)| LINUX_ARCHES.contains(&arch));
    }
    if let Some(rest) = tag.strip_prefix("ios_") {
        return two_numbers(rest).is_some_and(|(_, _, rest)| {
            ["_iphoneos", "_iphonesimulator"].iter().any(|sdk| {
                rest.strip_suffix(sdk)
                    .is_some_and(|arch| IOS_ARCHES.contains(&arch))
            })
        });
    }
    if let Some(rest) = tag.strip_prefix("android_") {
        return rest
            .split_once('_')
            .is_some_and(|(api, arch)| number(api) && ANDROID_ARCHES.contains(&arch));
    }
    if let Some(rest) = tag.strip_prefix("pyemscripten_") {
        return two_numbers(rest).is_some_and(|(_, _, arch)| arch == "wasm32");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::accepted;

    #[test]
    fn platform_tags() {
        for good in [
            "any",
            "win_amd64",
            "manylinux_2_17_x86_64",
            "manylinux2014_aarch64",
            "musllinux_1_2_aarch64",
            "macosx_10_9_x86_64",
            "macosx_11_0_arm64",
            "macosx_14_0_universal2",
            "ios_13_0_arm64_iphoneos",
            "ios_13_0_x86_64_iphonesimulator",
            "android_21_arm64_v8a",
            "pyemscripten_2024_0_wasm32",
            "linux_armv7l",
            // Tags of wheels PyPI accepted in 2025-2026 (tests/corpus/recent.txt).
            "manylinux_2_31_riscv64",
            "musllinux_1_1_riscv64",
            "manylinux_2_17_s390x",
            "musllinux_1_2_ppc64le",
            "macosx_10_12_universal2",
            "macosx_15_0_arm64",
            "win_arm64",
            "android_24_x86_64",
            "pyemscripten_2026_0_wasm32",
        ] {
            assert!(accepted(good), "{good}");
        }
        for bad in [
            "linux_x86_64",
            "linux_aarch64",
            "macosx_11_1_arm64",
            "macosx_9_0_x86_64",
            "musllinux_1_2_ppc64",
            "manylinux_2_17_sparc",
            "ios_13_0_arm64",
            "android_x_arm64_v8a",
            "win_x86",
            "",
        ] {
            assert!(!accepted(bad), "{bad}");
        }
    }
}
