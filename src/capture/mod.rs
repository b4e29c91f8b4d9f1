pub mod pcapfile;
