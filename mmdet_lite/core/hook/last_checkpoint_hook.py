from mmcv.runner import HOOKS, Hook, master_only

from mmdet_lite.utils.checkpoint import write_last_checkpoint_pointer


@HOOKS.register_module()
class LastCheckpointHook(Hook):
    """Keep ``<work_dir>/last_checkpoint`` naming the newest saved checkpoint.

    Runs after the CheckpointHook; the pointer is replaced atomically, and only after the
    checkpoint it names was completely written, so ``--auto-resume`` never follows it to a
    partial file.
    """

    def __init__(self):
        self.written = None

    @master_only
    def _update(self, runner):
        last_ckpt = runner.meta.get('hook_msgs', {}).get('last_ckpt') if runner.meta else None
        if last_ckpt is None or last_ckpt == self.written:
            return
        write_last_checkpoint_pointer(last_ckpt)
        self.written = last_ckpt

    def after_train_epoch(self, runner):
        self._update(runner)

    def after_train_iter(self, runner):
        self._update(runner)
