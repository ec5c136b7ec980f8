"""Simulate a labeling campaign end to end and report keystrokes, time and accuracy."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.exceptions import InvalidInput
from learning.core.strategies import STRATEGIES
from learning.simulation import Campaign, campaign_run


class Command(BaseCommand):
    help = (
        "Label an ImageFolder tree with simulated annotators through the real services "
        "and tasks; the time model is documented in learning/simulation.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=Path, required=True)
        parser.add_argument("--taxonomy", type=Path, required=True)
        parser.add_argument("--eval-images", type=Path)
        parser.add_argument("--strategy", default="margin", choices=sorted(STRATEGIES))
        parser.add_argument("--budget", type=int, required=True, help="Human annotations")
        parser.add_argument("--annotators", type=int, default=1)
        parser.add_argument("--auto-accept", type=float, help="Precision target, e.g. 0.99")
        parser.add_argument("--noise", type=float, default=0.0)
        parser.add_argument("--batch", type=int, default=100)
        parser.add_argument("--retrain-every", type=int, default=200)
        parser.add_argument("--shadow-size", type=int, default=100)
        parser.add_argument("--audit-size", type=int, default=300)
        parser.add_argument("--backbone", help="A backbone name (default: ARBOR_DEFAULT_BACKBONE)")
        parser.add_argument(
            "--weights", type=Path, help="The backbone's weights: .safetensors or .pt state dict"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, **options):
        for name in ("images", "taxonomy"):
            if not options[name].exists():
                raise CommandError(f"--{name} {options[name]} does not exist")
        if options["weights"] is not None and not options["weights"].is_file():
            raise CommandError(f"--weights {options['weights']} does not exist")
        if not 0.0 <= options["noise"] < 1.0:
            raise CommandError("--noise must be in [0, 1)")
        if options["annotators"] < 1 or options["budget"] < 1:
            raise CommandError("--annotators and --budget must be at least 1")
        campaign = Campaign(
            images=options["images"],
            taxonomy=options["taxonomy"],
            eval_images=options["eval_images"],
            strategy=options["strategy"],
            budget=options["budget"],
            annotators=options["annotators"],
            noise=options["noise"],
            auto_accept=options["auto_accept"],
            batch_size=options["batch"],
            retrain_every=options["retrain_every"],
            shadow_size=options["shadow_size"],
            audit_size=options["audit_size"],
            backbone=options["backbone"],
            weights=options["weights"],
            seed=options["seed"],
            log=lambda line: self.stderr.write(line),
        )
        try:
            report = campaign_run(campaign)
        except InvalidInput as error:  # an unknown backbone, weights that do not fit
            raise CommandError(str(error)) from error
        options["out"].write_text(json.dumps(report, indent=2))
        final = report["final"]
        self.stdout.write(json.dumps(final))
        ratio = final["keystrokes"] / max(final["manual_keystrokes"], 1)
        self.stdout.write(
            f"label_accuracy={final['label_accuracy']:.4f} keystroke_ratio={ratio:.4f}"
        )
