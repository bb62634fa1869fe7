"""What allocation tells the packages above it. Data flows one way (catalogue and parties ->
allocation -> slurm -> accounting -> planning), so allocation never calls accounting; a higher
package that must react subscribes here in its app config's ``ready()``."""

from django.dispatch import Signal

# Sent inside the deciding transaction after an allocation's amount or period changed
# (an approved increase or extension), with ``allocation``. Accounting re-checks its
# balance thresholds and lifts a block the new size no longer justifies.
allocation_resized = Signal()
