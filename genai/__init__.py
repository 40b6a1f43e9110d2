"""Brand-aware marketing email generation: brand kits, briefs, prompts, backends, gates, rendering."""
