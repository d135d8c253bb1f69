# RetinaNet R50-FPN on COCO for 12 epochs: the model, data, schedule and runtime bases, with
# the learning rate halved for this detector. Written for anchorctl's tests.
_base_ = [
    '../_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
