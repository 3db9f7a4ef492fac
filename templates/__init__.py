"""The HTML templates and CSS, kept at the top of the repository and shipped in the wheel as posthoc.templates."""
