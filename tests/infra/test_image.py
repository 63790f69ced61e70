"""ServiceImage under Pulumi's mocks: the image name begins with the registry host, the build is
linux/amd64 from the repository root, and the service gets the pushed image by digest."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pulumi
import pytest

from infra.gcp.registry import Registry, RegistryArgs
from infra.image import ImageArgs, ServiceImage, image_name
from infra.labels import standard_labels
from tests.infra.conftest import run_component
from tests.infra.tokens import IMAGE

REPO_ROOT = Path(__file__).resolve().parents[2]
URL = "europe-west4-docker.pkg.dev/emg-analyzer-dev/emg-dev"


def image_args(repository_url: pulumi.Input[str] = URL, tag: str = "0123abcd") -> ImageArgs:
    return ImageArgs(
        repository_url=repository_url,
        context=str(REPO_ROOT),
        dockerfile="service/Dockerfile",
        tag=tag,
    )


def test_image_is_built_for_cloud_run_and_pushed_to_the_registry() -> None:
    def build() -> None:
        registry = Registry(
            "t-registry",
            RegistryArgs(
                project="emg-analyzer-dev",
                location="europe-west4",
                repository_id="emg-dev",
                labels=standard_labels("dev"),
            ),
        )
        image = ServiceImage("t-image", image_args(registry.repository_url))
        pulumi.export("image_ref", image.image_ref)

    run = run_component(build)
    component, image = run.named("t-image"), run.one(IMAGE)
    assert component.type == "emg:image:ServiceImage", f"{component.urn}: {component.type}"
    assert image.parent == component.urn and image.name == "t-image-build", image.urn
    name = image.inputs["imageName"]
    assert name == f"{URL}/emg-service:0123abcd", f"{image.urn}: image name {name}"
    assert name.startswith("europe-west4-docker.pkg.dev/"), f"{image.urn}: {name} not on registry"
    build_args = image.inputs["build"]
    assert build_args["platform"] == "linux/amd64", f"{image.urn}: {build_args}"
    assert build_args["context"] == str(REPO_ROOT), f"{image.urn}: context {build_args}"
    dockerfile = Path(build_args["dockerfile"])
    assert dockerfile == REPO_ROOT / "service" / "Dockerfile", f"{image.urn}: {dockerfile}"
    assert dockerfile.is_file(), f"{image.urn}: {dockerfile} missing"
    assert image.inputs.get("skipPush") is False, f"{image.urn}: push skipped"
    assert "registry" not in image.inputs, f"{image.urn}: credentials in the program"


def test_image_ref_is_the_pushed_digest() -> None:
    def build() -> None:
        pulumi.export("image_ref", ServiceImage("t-image", image_args()).image_ref)

    run = run_component(build)
    image = run.one(IMAGE)
    ref = run.outputs["image_ref"]
    assert ref == image.outputs["repoDigest"], f"{image.urn}: image_ref {ref} is not the digest"
    assert re.fullmatch(rf"{re.escape(URL)}/emg-service@sha256:[0-9a-f]{{64}}", ref), (
        f"{image.urn}: {ref}"
    )


def test_image_name_refuses_a_repository_without_registry_host() -> None:
    assert image_name(URL, "v1") == f"{URL}/emg-service:v1"
    with pytest.raises(ValueError, match="'emg-dev'"):
        image_name("emg-dev", "v1")  # would go to Docker Hub
    # ServiceImage applies the same check to a computed (Output) URL once it resolves.


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tag": ":latest"}, "':latest'"),
        ({"tag": ""}, "''"),
        ({"platform": "linux/arm64"}, "'linux/arm64'"),
        ({"context": "."}, "'.'"),
        ({"dockerfile": "service/Nodockerfile"}, "'service/Nodockerfile'"),
        ({"dockerfile": "/etc/passwd"}, "'/etc/passwd'"),
        ({"repository_url": "library/emg"}, "'library/emg'"),
    ],
)
def test_bad_image_arguments_fail_before_any_resource(change, message) -> None:
    errors: list[ValueError] = []

    def build() -> None:
        try:
            ServiceImage("t-image", dataclasses.replace(image_args(), **change))
        except ValueError as exc:
            errors.append(exc)

    run = run_component(build)
    assert errors, f"t-image: no ValueError for {change}"
    assert message in str(errors[0]), f"t-image: {errors[0]} does not name {message}"
    assert run.resources == [], f"t-image: created {[r.urn for r in run.resources]}"
