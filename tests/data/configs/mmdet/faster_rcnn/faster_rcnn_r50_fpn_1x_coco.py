# Faster R-CNN R50-FPN on COCO, MMDetection 2.x layout. Written for anchorctl's tests.
_base_ = [
    '../_base_/models/faster_rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection_v2.py',
    '../_base_/schedules/schedule_1x_v2.py',
]
checkpoint_config = dict(interval=1)
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
