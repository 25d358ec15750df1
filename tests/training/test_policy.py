"""The ground-truth policy of configs/train.json: one Python function, read by the config."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigParser

from bundle.training import ground_truth_policy


def test_policy_with_and_without_ground_truth():
    simulated = ground_truth_policy(True, "/bundle")
    assert (simulated.learning_rate, simulated.pretrained_checkpoint, simulated.pretrained_prefix) == (0.001, "", "")
    assert simulated.key_metric_name == "val_strain_nrmse" and not simulated.higher_is_better
    assert simulated.metric_cmp_fn(0.1, 0.2) and not simulated.metric_cmp_fn(0.2, 0.1)  # lower NRMSE is better
    site = ground_truth_policy(False, "/bundle")
    assert (site.learning_rate, site.pretrained_checkpoint, site.pretrained_prefix) == (
        0.0001,
        "/bundle/models/model.pt",
        "stage_one.",
    )
    assert site.key_metric_name == "val_warped_ncc" and site.higher_is_better
    assert site.metric_cmp_fn(0.9, 0.8) and not site.metric_cmp_fn(0.8, 0.9)  # higher warped NCC is better


@pytest.mark.parametrize("config_files", [["configs/train.json"], ["configs/train.json", "configs/train_refine.json"]])
@pytest.mark.parametrize("has_ground_truth", [True, False])
def test_train_config_reads_the_policy(config_files, has_ground_truth):
    parser = ConfigParser()
    parser.read_config(config_files)
    parser["has_ground_truth"] = has_ground_truth  # what the data decide; no data set is read here
    policy = ground_truth_policy(has_ground_truth, parser["bundle_root"])
    assert parser.get_parsed_content("learning_rate") == policy.learning_rate
    assert parser.get_parsed_content("pretrained_checkpoint") == policy.pretrained_checkpoint
    if len(config_files) == 1:  # train_refine.json starts from the whole MUSSE-Net: its own prefix
        assert parser.get_parsed_content("pretrained_prefix") == policy.pretrained_prefix
    assert parser.get_parsed_content("validate#key_metric_name") == policy.key_metric_name
    cmp = parser.get_parsed_content("validate#evaluator#metric_cmp_fn", lazy=True, instantiate=False)
    assert cmp(1.0, 2.0) is (not policy.higher_is_better)


def test_command_line_overrides_still_win():
    parser = ConfigParser()
    parser.read_config("configs/train.json")
    parser["has_ground_truth"] = False
    parser["learning_rate"] = 0.01
    assert parser.get_parsed_content("learning_rate") == 0.01
