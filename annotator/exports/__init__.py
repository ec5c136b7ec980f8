"""Exports: a project's labeled items as CSV, JSON, COCO or an ImageFolder zip.

Every format is written by streaming: items are read in keyset-paginated chunks with a
fixed number of queries per chunk (items, their annotations, their latest predictions),
each record is written as soon as it is built, and nothing holds the whole project.
The file is written to a local temporary file and put in the storage (``MEDIA_ROOT`` or
a bucket) when complete.

What is exported (the same for every format):
- Labels as of the moment the export was requested: annotations made later are left
  out, and predictions come from the newest model version at that moment or older.
- One record per item with a final label (``annotator.consensus``). Unlabeled items are
  not exported, in any format.
- Filters: ``include_auto`` adds items labeled only by an auto-accepted prediction
  (source ``auto``); ``human_only`` also drops auto-accepted annotations from the
  records (the two exclude each other); ``min_agreement`` leaves out human labels whose
  agreement at their own level is lower.
- COCO categories are all taxonomy nodes, so coarse-only labels keep their inner node.
  ImageFolder zips are nested by path (coarse-only labels sit in their inner node's
  folder) or flat by leaf (coarse-only labels are left out and counted).

Modules: ``options`` (what to export, and the provenance written into every file),
``records`` (reading the records), one writer per format (``csv_writer``,
``json_writer``, ``coco_writer``, ``imagefolder_writer``) and ``job`` (writing a file,
and running exports in the worker).
"""
